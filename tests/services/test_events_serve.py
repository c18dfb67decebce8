"""``mesh serve events`` in its own process, and publishers and subscribers in theirs: a publish whose FG
returned survives a SIGKILL of the service, and a group consumer SIGKILLed and restarted while four
processes publish misses nothing and sees again only what came after its group's last commit."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import FG, STREAM, Global, MeshError
from mesh.services import Events
from tests._support.proc import MESH_COMMAND, Proc, free_port
from tests._support.redis_server import RedisServer
from tests._support.serve import mesh_serve
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(180)

Spawn = Callable[..., Proc]


def serve_events(spawn: Spawn, port: int, path: Path | str, *options: str) -> Proc:
    """``mesh serve events`` over the SQLite log in folder ``path``, or the Redis server at ``path``, a redis:// URL."""
    where = ("--redis", path) if str(path).startswith("redis://") else ("--path", str(path))
    return mesh_serve(spawn, "events", port, *where, *options, name="events")


def test_publishes_whose_fg_returned_survive_a_sigkill_of_the_service(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path
) -> None:
    g, port = client
    service = serve_events(spawn, port, tmp_path / "log")
    assert f"SQLite log {tmp_path / 'log' / 'events.sqlite3'} as events.*" in service.text()
    g.wait_function("events.publish", timeout=10)
    ev = Events(g)
    returned: dict[int, int] = {}
    failed: list[BaseException] = []

    def publish() -> None:
        n = 0
        while True:
            try:
                returned[ev.publish("ledger", n) & FG(timeout=10)] = n
            except MeshError as exc:
                failed.append(exc)
                return
            n += 1

    publisher = threading.Thread(target=publish)
    publisher.start()
    wait_until(lambda: len(returned) >= 300, 30, "some publishes to return")
    service.signal(signal.SIGKILL)
    publisher.join(20)
    assert failed, "the publisher saw the service die"
    serve_events(spawn, port, tmp_path / "log")
    wait_until(lambda: "events" in {m["name"] for m in g.members()}, 10, "the restarted service")
    g.wait_function("events.publish", timeout=10)
    kept = {event.offset: event.payload for event in ev.read("ledger") & STREAM}
    assert {offset: kept.get(offset) for offset in returned} == returned
    assert sorted(kept) == list(range(len(kept)))
    assert ev.publish("ledger", "after") & FG == len(kept)


PUBLISHER = """
from mesh import BG, Global
from mesh.services import Events

g = Global("publisher-NUMBER", host="127.0.0.1", port=PORT)
g.wait_function("events.publish", timeout=10)
ev = Events(g)
for start in range(0, COUNT, 500):
    pending = [ev.publish("orders", ("NUMBER", n)) & BG for n in range(start, min(start + 500, COUNT))]
    [p.get(timeout=60) for p in pending]
print("PUBLISHED", flush=True)
g.stop()
"""

CONSUMER = """
import os, threading
from mesh import Global
from mesh.services import Events

out = os.open("FILE", os.O_WRONLY | os.O_CREAT | os.O_APPEND)

def handle(event):
    os.write(out, b"%d %s %d\\n" % (event.offset, event.payload[0].encode(), event.payload[1]))

g = Global("NAME", host="127.0.0.1", port=PORT)
g.wait_function("events.publish", timeout=10)
Events(g).subscribe("orders", handle, group="billing")
print("SUBSCRIBED", flush=True)
threading.Event().wait()
"""


def consumer(spawn: Spawn, port: int, name: str, file: Path) -> Proc:
    """A process ``name`` whose handler, in group ``billing``, writes each event of ``orders`` to ``file``."""
    code = CONSUMER.replace("NAME", name).replace("FILE", str(file)).replace("PORT", str(port))
    proc = spawn("-c", code, module="tests._support.run_code")
    proc.wait_line("SUBSCRIBED", timeout=30)
    return proc


def seen(path: Path) -> list[tuple[int, str, int]]:
    """The (offset, publisher, number) lines a consumer wrote, whole lines only."""
    lines = path.read_bytes().split(b"\n")[:-1] if path.exists() else []
    return [(int(offset), publisher.decode(), int(number)) for offset, publisher, number in map(bytes.split, lines)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_group_consumer_sigkilled_and_restarted_sees_every_offset_in_order(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    g, port = client
    total = 100_000
    where: Path | str = tmp_path / "log"
    if backend == "redis":
        start: Callable[[], RedisServer] = request.getfixturevalue("redis_server")
        where = start().url
    serve_events(spawn, port, where)
    g.wait_function("events.publish", timeout=10)

    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    dying = consumer(spawn, port, "consumer-1", first)
    publisher = PUBLISHER.replace("PORT", str(port)).replace("COUNT", str(total // 4))
    publishers = [
        spawn("-c", publisher.replace("NUMBER", str(number)), module="tests._support.run_code") for number in range(4)
    ]
    wait_until(lambda: len(seen(first)) >= total // 3, 120, "the first consumer to take a third of the events")
    dying.signal(signal.SIGKILL)
    dying.popen.wait(10)
    before = seen(first)
    consumer(spawn, port, "consumer-2", second)
    for publisher in publishers:
        publisher.wait_line("PUBLISHED", timeout=120)
    ev = Events(g)
    wait_until(lambda: ev.committed("billing") & FG == {"orders": total}, 120, "the group to finish every event")
    after = seen(second)
    for lines in (before, after):
        offsets = [offset for offset, _, _ in lines]
        assert offsets == sorted(set(offsets)), "a consumer saw its events in offset order, each once"
    assert before[0][0] == 0 and after[-1][0] == total - 1
    resumed = after[0][0]
    assert resumed <= before[-1][0] + 1, "no gap between the two consumers"
    again = [line for line in before if line[0] >= resumed]
    assert after[: len(again)] == again, "what the second saw again is what the first saw after the commit"
    assert len(again) <= 100, f"{len(again)} events seen twice: more than the one batch in flight at the kill"
    every = {offset: (publisher, number) for offset, publisher, number in before + after}
    assert sorted(every) == list(range(total))
    for number in range(4):
        mine = [n for offset, (publisher, n) in sorted(every.items()) if publisher == str(number)]
        assert mine == list(range(total // 4)), f"publisher {number}'s events, each once, in its order"


def test_a_member_sigkilled_leaves_its_events_to_the_other_member_of_its_group(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path
) -> None:
    g, port = client
    total = 20_000
    serve_events(spawn, port, tmp_path / "log")
    g.wait_function("events.publish", timeout=10)
    dying_file, staying_file = tmp_path / "dying.txt", tmp_path / "staying.txt"
    dying = consumer(spawn, port, "consumer-1", dying_file)
    consumer(spawn, port, "consumer-2", staying_file)
    publisher = PUBLISHER.replace("PORT", str(port)).replace("COUNT", str(total)).replace("NUMBER", "0")
    spawn("-c", publisher, module="tests._support.run_code")
    wait_until(lambda: len(seen(dying_file)) >= total // 10, 60, "the first member to take some events")
    dying.signal(signal.SIGKILL)
    dying.popen.wait(10)
    ev = Events(g)
    wait_until(lambda: ev.committed("billing") & FG == {"orders": total}, 120, "the group to finish every event")
    died, stayed = seen(dying_file), seen(staying_file)
    assert stayed, "both members took events"
    assert {offset for offset, _, _ in died + stayed} == set(range(total))
    for lines in (died, stayed):
        assert len({offset for offset, _, _ in lines}) == len(lines), "a member saw each of its events once"


def run_mesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESH_COMMAND, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "one of the arguments --path --redis is required"),
        (("--path", "x", "--redis", "redis://127.0.0.1:1/0"), "not allowed with argument"),
        (("--redis", "redis://127.0.0.1:1/0", "--max-age", "5"), "retention .* is kept by the SQLite log only"),
        (("--path", "x", "--max-bytes", "0"), "retention max_bytes must be a positive int or None, not 0"),
        (("--path", "x", "--max-age", "-1"), "retention max_age must be a positive number of seconds or None"),
    ],
)
def test_bad_options_say_what_is_wrong(args: tuple[str, ...], message: str) -> None:
    done = run_mesh("serve", "events", *args)
    assert done.returncode == 2
    assert re.search(message, done.stderr), done.stderr


def test_a_redis_server_that_is_down_is_named_at_start() -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    done = run_mesh("serve", "events", "--redis", down)
    assert done.returncode == 1
    assert "events: the backend Redis Streams at 127.0.0.1:" in done.stderr and "does not answer" in done.stderr


@pytest.mark.parametrize(
    ("backend", "signum"),
    [("sqlite", signal.SIGTERM), ("sqlite", signal.SIGKILL), ("redis", signal.SIGKILL)],
)
def test_subscriptions_and_group_positions_outlive_a_restart_of_the_service(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path, request: pytest.FixtureRequest, backend: str, signum: int
) -> None:
    g, port = client
    where: Path | str = tmp_path / "log"
    if backend == "redis":
        start: Callable[[], RedisServer] = request.getfixturevalue("redis_server")
        where = start().url
    retention = ("--max-bytes", "1000000") if backend == "sqlite" else ()
    service = serve_events(spawn, port, where, *retention)
    g.wait_function("events.publish", timeout=10)
    ev = Events(g)
    grouped: list[int] = []
    alone: list[int] = []
    ev.subscribe("t", lambda event: grouped.append(event.payload), group="keep")
    ev.subscribe("t", lambda event: alone.append(event.payload))
    for n in range(10):
        ev.publish("t", n) & FG
    wait_until(lambda: ev.committed("keep") & FG == {"t": 10}, 10, "the commit")
    wait_until(lambda: len(alone) == 10, 10, "the subscriber without a group")
    service.signal(signum)
    service.popen.wait(15)
    if signum == signal.SIGTERM:
        assert service.popen.returncode == 0, service.text()
    serve_events(spawn, port, where)
    g.wait_function("events.publish", timeout=10)
    assert ev.committed("keep") & FG == {"t": 10}
    for n in range(10, 15):
        ev.publish("t", n) & FG
    wait_until(lambda: grouped == list(range(15)) and alone == list(range(15)), 10, "the events after the restart")
