"""A calling process for the fault and load tests, run as ``python -m tests._support.caller MODE [options]``.

- ``links``: start ``--links`` nodes linked straight to ``--peer``, have each send ``--calls`` calls of
  ``--callback`` (with ``--arg``), print ``SENT`` and wait to be killed.
- ``burst``: join the controller at ``--port``, send ``--calls`` BG calls of ``--callback`` (with ``--args``) at
  once, print ``SENT``, then ``OUTCOMES <json>``: how many calls ended with a value and with each kind of error.
- ``load``: join the controller at ``--port``; ``--threads`` callers each make ``--calls`` BG calls of
  ``tally`` with up to ``--window`` outstanding, check every result by content, and print
  ``DONE <json>`` with the counts, the errors and this process's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import tempfile
import threading
import time
from typing import Any

from mesh import BG, Global, MeshError
from mesh.node._config import NodeConfig
from mesh.node._node import Node
from tests._support.procinfo import rss


async def open_links(options: argparse.Namespace) -> None:
    folder = tempfile.mkdtemp(prefix="caller-")
    nodes = [
        Node(NodeConfig(name=f"caller-{os.getpid()}-{i}", listen=f"unix:{folder}/{i}.sock", peers=(options.peer,)))
        for i in range(options.links)
    ]
    await asyncio.gather(*(node.start() for node in nodes))
    peer_name = options.peer_name
    await asyncio.gather(*(node.wait_process(peer_name) for node in nodes))
    calls = [
        asyncio.create_task(node.call(options.callback, (options.arg,), {}, None))
        for node in nodes
        for _ in range(options.calls)
    ]
    await asyncio.sleep(0)
    print("SENT", flush=True)
    await asyncio.gather(*calls)


def burst(options: argparse.Namespace) -> None:
    with Global(process_name=options.name, host="127.0.0.1", port=options.port) as g:
        g.wait_function(options.callback, timeout=10)
        pending = [getattr(g.call, options.callback)(*options.args) & BG for _ in range(options.calls)]
        print("SENT", flush=True)
        outcomes: collections.Counter[str] = collections.Counter()
        for future in pending:
            try:
                future.get(timeout=options.wait)
                outcomes["value"] += 1
            except MeshError as exc:
                outcomes[type(exc).__name__] += 1
        print("OUTCOMES", json.dumps(outcomes), flush=True)


def load(options: argparse.Namespace) -> None:
    report: dict[str, Any] = {"results": {}, "errors": [], "by_callee": collections.Counter()}
    lock = threading.Lock()

    def caller(g: Global, me: str) -> None:
        window: collections.deque[tuple[int, Any]] = collections.deque()
        ok = 0
        by_callee: collections.Counter[str] = collections.Counter()

        def settle() -> None:
            nonlocal ok
            seq, future = window.popleft()
            try:
                who, got, callee = future.get(timeout=60)
            except MeshError as exc:
                with lock:
                    report["errors"].append(f"{me} #{seq}: {exc!r}")
                return
            if (who, got) == (me, seq):
                ok += 1
                by_callee[callee] += 1
            else:
                with lock:
                    report["errors"].append(f"{me} #{seq}: got the result of {who} #{got}")

        for seq in range(options.calls):
            if len(window) >= options.window:
                settle()
            window.append((seq, g.call.tally(me, seq) & BG))
        while window:
            settle()
        with lock:
            report["results"][me] = ok
            report["by_callee"].update(by_callee)

    with Global(process_name=options.name, host="127.0.0.1", port=options.port) as g:
        for callee in options.callees.split(","):
            g.wait_process(callee, timeout=10)
        report["rss_start"] = rss()
        started = time.monotonic()
        threads = [threading.Thread(target=caller, args=(g, f"{options.name}/{i}")) for i in range(options.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report["seconds"] = time.monotonic() - started
        report["rss"] = rss()
        report["in_flight"] = g.statistics()["in_flight"]
    print("DONE", json.dumps(report), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    links = modes.add_parser("links")
    links.add_argument("--peer", required=True, help="address of the node to call")
    links.add_argument("--peer-name", required=True)
    links.add_argument("--links", type=int, default=100)
    links.add_argument("--calls", type=int, default=1, help="calls per link")
    links.add_argument("--callback", default="async_sleep")
    links.add_argument("--arg", type=float, default=60.0)
    many = modes.add_parser("burst")
    many.add_argument("--port", type=int, required=True)
    many.add_argument("--name", default="burst")
    many.add_argument("--callback", default="async_sleep")
    many.add_argument("--args", type=float, nargs="+", default=[1.0])
    many.add_argument("--calls", type=int, default=1000)
    many.add_argument("--wait", type=float, default=30.0, help="seconds to wait for each result")
    heavy = modes.add_parser("load")
    heavy.add_argument("--port", type=int, required=True)
    heavy.add_argument("--name", required=True)
    heavy.add_argument("--callees", required=True, help="names of the callee nodes, comma-separated")
    heavy.add_argument("--threads", type=int, default=4)
    heavy.add_argument("--calls", type=int, default=1000, help="calls per thread")
    heavy.add_argument("--window", type=int, default=200, help="outstanding calls per thread")
    options = parser.parse_args()
    if options.mode == "links":
        asyncio.run(open_links(options))
    elif options.mode == "burst":
        burst(options)
    else:
        load(options)


if __name__ == "__main__":
    main()
