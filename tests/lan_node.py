"""A node that finds its mesh by discovery, for tests/test_discovery.py.

``python -m tests.lan_node --name N --mesh M [--interfaces IP ...] [--listen ADDR] [--probe NAME]``
(the secret comes from ``$MESH_SECRET``). It offers ``whoami`` and ``ping_<name>`` (only this node
has the latter) and prints, with ``time.monotonic()`` (one clock for every process of the machine):

- ``READY <time> <address>`` once started;
- ``VIEW <time> a,b,c`` whenever the names of the members it sees change (itself included);
- ``BROADCAST <json>`` on SIGUSR1: the result of ``whoami & BROADCAST(return_result=True)``;
- with ``--probe P``: ``CALLOK <time>`` once ``ping_P`` answers, then ``CALLFAIL <time> <error>`` at
  its first failure.

SIGTERM stops the node cleanly.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from typing import Any

from mesh import BROADCAST, FG, Global, MeshError, callback


def _offer(name: str) -> None:
    @callback
    def whoami() -> str:
        return name

    def ping() -> str:
        return name

    ping.__name__ = f"ping_{name}"
    callback(ping)


def _watch_view(g: Global, stop: threading.Event) -> None:
    shown = ""
    while not stop.is_set():
        names = ",".join(sorted(m["name"] for m in g.members()))
        if names != shown:
            print(f"VIEW {time.monotonic():.3f} {names}", flush=True)
            shown = names
        stop.wait(0.02)


def _probe(g: Global, target: str, stop: threading.Event) -> None:
    answered = False
    while not stop.is_set():
        try:
            getattr(g.call, f"ping_{target}")() & FG(timeout=1.0)
        except MeshError as exc:
            if answered:
                print(f"CALLFAIL {time.monotonic():.3f} {type(exc).__name__}", flush=True)
                return
        else:
            if not answered:
                print(f"CALLOK {time.monotonic():.3f}", flush=True)
                answered = True
        stop.wait(0.05)


def _broadcast(g: Global) -> None:
    try:
        results: Any = g.call.whoami() & BROADCAST(return_result=True, timeout=5.0)
    except MeshError as exc:
        results = {"error": repr(exc)}
    print(f"BROADCAST {json.dumps(results, sort_keys=True)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--mesh", required=True)
    parser.add_argument("--interfaces", nargs="+")
    parser.add_argument("--listen", default="0.0.0.0:0")
    parser.add_argument("--probe", help="call ping_PROBE until it fails once")
    options = parser.parse_args()
    _offer(options.name)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=_broadcast, args=(g,)).start())
    g = Global(
        process_name=options.name,
        discovery=True,
        mesh_name=options.mesh,
        listen=options.listen,
        interfaces=options.interfaces,
    )
    print(f"READY {time.monotonic():.3f} {g.address}", flush=True)
    threads = [threading.Thread(target=_watch_view, args=(g, stop))]
    if options.probe:
        threads.append(threading.Thread(target=_probe, args=(g, options.probe, stop)))
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join()
    g.stop()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    main()
