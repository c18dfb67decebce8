"""PyDistributed's message-bus ping/pong, on the mesh's events service.

The broker is a node hosting the events service; ``ping`` and ``pong`` are processes that publish to
one topic and subscribe to the other. Each subscribes with a group, so an event published before the
other side has subscribed is not lost (a new group starts at the topic's oldest event): no sleep
needed before the first publish. Run: ``python -m examples.events_ping_pong``.
"""

from __future__ import annotations

import multiprocessing
import queue
import shutil
import tempfile

from mesh import FG, Global
from mesh.services import Event, Events
from mesh.services.events import EventLog, serve_events

ROUNDS = 5


def service_ping() -> None:
    with Global(process_name="ping") as g:
        g.wait_function("events.publish", timeout=10)
        client = Events(g)
        received: queue.Queue[Event] = queue.Queue()
        client.subscribe("pongs", received.put, group="ping")
        for _ in range(ROUNDS):
            client.publish("pings", "ping") & FG
            print("GOT", received.get(timeout=10).payload, flush=True)


def service_pong() -> None:
    with Global(process_name="pong") as g:
        g.wait_function("events.publish", timeout=10)
        client = Events(g)
        received: queue.Queue[Event] = queue.Queue()
        client.subscribe("pings", received.put, group="pong")
        for _ in range(ROUNDS):
            print("GOT", received.get(timeout=10).payload, flush=True)
            client.publish("pongs", "pong") & FG


def main() -> None:
    folder = tempfile.mkdtemp(prefix="ping-pong-")
    broker = Global(process_name="broker", init_controller=True)
    served = serve_events(broker, EventLog(folder))
    try:
        spawn = multiprocessing.get_context("spawn")
        ping = spawn.Process(target=service_ping)
        pong = spawn.Process(target=service_pong)
        ping.start()
        pong.start()
        ping.join(60)
        pong.join(60)
        print("ping and pong exited with", [ping.exitcode, pong.exitcode], flush=True)
    finally:
        served.close()
        broker.stop()
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
