"""A node on a LAN of network namespaces (tests/_support/lan.py), or on 127.0.0.1, for the multi-host tests.

``python -m tests._support.lan_node --name N --mesh M [--interfaces IP ...] [--listen ADDR] [--probe NAME ...]``
finds its mesh by discovery (the secret comes from ``$MESH_SECRET``); with ``--defaults [--host H
--port P] [--peer ADDR] [--controller]`` it passes ``Global`` only those (and ``process_name``). It offers
``whoami`` and ``ping_<name>`` (only this node has the latter) and prints, with
``time.monotonic()`` (one clock for every process of the machine):

- ``CONTROLLER <address>`` with ``--controller``, then ``READY <time> <address>`` once started;
- ``VIEW <time> a,b,c`` whenever the names of the members it sees change (itself included);
- ``BROADCAST <json>`` on SIGUSR1: the result of ``whoami & BROADCAST(return_result=True)``;
- with ``--probe P ...``: for each P, ``CALLOK <time> P`` once ``ping_P`` answers, then
  ``CALLFAIL <time> <error>`` at its first failure.

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

_printing = threading.Lock()


def _say(line: str) -> None:
    """Print ``line`` whole: print() writes the text and the newline apart, so threads interleave."""
    with _printing:
        print(line, flush=True)


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
            _say(f"VIEW {time.monotonic():.3f} {names}")
            shown = names
        stop.wait(0.02)


def _probe(g: Global, target: str, stop: threading.Event) -> None:
    answered = False
    while not stop.is_set():
        try:
            getattr(g.call, f"ping_{target}")() & FG(timeout=1.0)
        except MeshError as exc:
            if answered:
                _say(f"CALLFAIL {time.monotonic():.3f} {type(exc).__name__}")
                return
        else:
            if not answered:
                _say(f"CALLOK {time.monotonic():.3f} {target}")
                answered = True
        stop.wait(0.05)


def _broadcast(g: Global) -> None:
    try:
        results: Any = g.call.whoami() & BROADCAST(return_result=True, timeout=5.0)
    except MeshError as exc:
        results = {"error": repr(exc)}
    _say(f"BROADCAST {json.dumps(results, sort_keys=True)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--mesh")
    parser.add_argument("--interfaces", nargs="+")
    parser.add_argument("--listen", default="0.0.0.0:0")
    parser.add_argument("--defaults", action="store_true", help="pass Global only the name, host and port")
    parser.add_argument("--controller", action="store_true", help="also run the controller in this process")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--peer", action="append", default=[], help="the address of a node to link to")
    parser.add_argument("--probe", nargs="+", default=[], help="call ping_PROBE until it fails once")
    options = parser.parse_args()
    _offer(options.name)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=_broadcast, args=(g,)).start())
    settings: dict[str, Any] = {"process_name": options.name, "init_controller": options.controller}
    if options.host is not None or options.port is not None:
        settings.update(host=options.host, port=options.port)
    if options.peer:
        settings["peers"] = options.peer
    if not options.defaults:
        settings.update(discovery=True, mesh_name=options.mesh, listen=options.listen, interfaces=options.interfaces)
    g = Global(**settings)
    if options.controller:
        _say(f"CONTROLLER {g.controller_address}")
    _say(f"READY {time.monotonic():.3f} {g.address}")
    threads = [threading.Thread(target=_watch_view, args=(g, stop))]
    threads.extend(threading.Thread(target=_probe, args=(g, target, stop)) for target in options.probe)
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join()
    g.stop()
    _say("STOPPED")


if __name__ == "__main__":
    main()
