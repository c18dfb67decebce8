"""A peer node for the tests, run as ``python -m tests._support.peer --name N [options]``.

It offers the callbacks below, prints ``READY <address>`` once joined, and serves until stopped
(the ``leave`` callback) or killed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from mesh import Batch, Global, TLSConfig, callback
from mesh.node._event_loop import loop_name
from mesh.node._registry import REGISTRY
from tests._support.procinfo import rss
from tests._support.shapes import Point, Refused

state: dict[str, Any] = {"count": 0, "ticks": 0, "name": ""}
node: Global | None = None


@callback
def add(a: int, b: int) -> int:
    return a + b


@callback
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@callback
def whoami() -> str:
    return str(state["name"])


@callback
def pid() -> int:
    return os.getpid()


@callback
def echo(value: Any) -> Any:
    return value


@callback
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@callback
async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@callback
def apply(fn: Any, *args: Any) -> Any:
    return fn(*args)


@callback
def gather(gen_fn: Any, n: int) -> list[Any]:
    return list(gen_fn(n))


@callback
def make_point(x: int, y: int) -> Point:
    return Point(x, y)


@callback
def refuse(text: str) -> None:
    raise Refused(text)


@callback
def raise_local() -> None:
    class LocalOnly(Exception):
        def __reduce__(self) -> Any:
            raise TypeError("LocalOnly cannot be pickled")

    raise LocalOnly("only here")


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("_Unpicklable cannot be pickled")


@callback
def unpicklable_result() -> Any:
    return _Unpicklable()


@callback
def big(n: int) -> bytes:
    return b"\x01" * n


@callback(inline=True)
def inline_thread() -> str:
    return threading.current_thread().name


@callback
def worker_thread() -> str:
    return threading.current_thread().name


@callback(inline=True)
def inline_refuse(text: str) -> None:
    raise Refused(text)


@callback(inline=True)
def note(value: Any) -> None:
    """Record ``value``; inline, so values are recorded in the order their calls arrived."""
    state.setdefault("notes", []).append(value)


@callback(inline=True)
def notes() -> list[Any]:
    return list(state.get("notes", []))


@callback
def served_by(x: int, g: Global) -> str:
    """The name of the node that serves the call: its Global is injected (daffi 2.x)."""
    return f"{g.process_name}:{x}"


@callback
def bump() -> None:
    state["count"] += 1


@callback
def count() -> int:
    return int(state["count"])


@callback
def tick() -> None:
    state["ticks"] += 1


@callback
def ticks() -> int:
    return int(state["ticks"])


@callback
async def vitals() -> dict[str, int]:
    """Resource counters of this process, for leak checks: asyncio tasks, threads, RSS, node statistics."""
    assert node is not None
    return {"tasks": len(asyncio.all_tasks()), "threads": threading.active_count(), "rss": rss(), **node.statistics()}


@callback
async def event_loop() -> str:
    """Which kind of event loop this node runs on (``uvloop 0.x`` or ``asyncio``)."""
    return loop_name(asyncio.get_running_loop())


@callback
async def gate(value: Any) -> Any:
    """Hold the call until ``open_gate`` is called, then return ``value``."""
    if "gate" not in state:
        state["gate"] = asyncio.Event()
    state["held"] = state.get("held", 0) + 1
    await state["gate"].wait()
    return value


@callback
async def held() -> int:
    return int(state.get("held", 0))


@callback
async def open_gate() -> None:
    state.setdefault("gate", asyncio.Event()).set()


@callback
async def tally(caller: str, seq: int) -> tuple[str, int, str]:
    """Count the call per caller (count, sum and sum of squares of ``seq``) and echo it with this node's name."""
    sums = state.setdefault("tallies", {}).setdefault(caller, [0, 0, 0])
    sums[0] += 1
    sums[1] += seq
    sums[2] += seq * seq
    return caller, seq, str(state["name"])


@callback
async def tallies() -> dict[str, list[int]]:
    return dict(state.get("tallies", {}))


# ---------------------------------------------------------------------- streams


@callback
def numbers(n: int, fail_at: int | None = None) -> Iterator[int]:
    """Yield 0 .. n-1; raise Refused instead of ``fail_at``."""
    for i in range(n):
        if i == fail_at:
            raise Refused(f"no {i}")
        yield i


@callback
async def anumbers(n: int, fail_at: int | None = None) -> AsyncIterator[int]:
    for i in range(n):
        if i == fail_at:
            raise Refused(f"no {i}")
        await asyncio.sleep(0)
        yield i


@callback
def listed(n: int) -> list[int]:
    """Not a generator: STREAM streams the list's items."""
    return list(range(n))


@callback
def endless(key: str) -> Iterator[int]:
    """Yield 0, 1, 2, ... for ever, counting in ``streams[key]`` what was produced and whether it was closed."""
    record = state.setdefault("streams", {}).setdefault(key, {"produced": 0, "closed": False})
    try:
        while True:
            yield record["produced"]
            record["produced"] += 1
    finally:
        record["closed"] = True


@callback
async def aendless(key: str) -> AsyncIterator[int]:
    record = state.setdefault("streams", {}).setdefault(key, {"produced": 0, "closed": False})
    try:
        while True:
            yield record["produced"]
            record["produced"] += 1
            await asyncio.sleep(0)
    finally:
        record["closed"] = True


@callback
def stream_record(key: str) -> dict[str, Any]:
    return dict(state.get("streams", {}).get(key, {}))


@callback
def chunks(count: int, size: int) -> Iterator[bytes]:
    """``count`` chunks of ``size`` bytes, each filled with its index."""
    for i in range(count):
        yield bytes([i % 256]) * size


@callback
def total(items: Iterable[int]) -> int:
    return sum(items)


@callback
async def atotal(items: AsyncIterable[int]) -> int:
    return sum([item async for item in items])


@callback
def sizes(items: Iterable[bytes]) -> list[int]:
    return [len(item) for item in items]


@callback
def doubled(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        yield 2 * item


@callback
async def adoubled(items: AsyncIterable[int]) -> AsyncIterator[int]:
    async for item in items:
        yield 2 * item


@callback
def batched(n: int, size: int, fail_at: int | None = None) -> Iterator[Batch]:
    """0 .. n-1 in Batches of ``size`` (and an empty one first); raise Refused instead of the batch
    holding ``fail_at``."""
    yield Batch([])
    for first in range(0, n, size):
        if fail_at is not None and first <= fail_at < first + size:
            raise Refused(f"no {fail_at}")
        yield Batch(range(first, min(first + size, n)))


@callback
async def abatched(n: int, size: int) -> AsyncIterator[Batch]:
    for first in range(0, n, size):
        await asyncio.sleep(0)
        yield Batch(range(first, min(first + size, n)))


@callback
def take(items: Iterable[Any], n: int) -> list[Any]:
    """The first ``n`` items only, then return: the rest of the caller's stream is not wanted."""
    taken = []
    for item in items:
        taken.append(item)
        if len(taken) == n:
            break
    return taken


@callback
def endless_chunks(key: str, size: int) -> Iterator[bytes]:
    """Chunks of ``size`` bytes for ever, counted in ``streams[key]`` as :func:`endless` counts."""
    record = state.setdefault("streams", {}).setdefault(key, {"produced": 0, "closed": False})
    try:
        while True:
            yield bytes([record["produced"] % 256]) * size
            record["produced"] += 1
    finally:
        record["closed"] = True


@callback
def slow(key: str, pause: float) -> Iterator[int]:
    """Yield 0, 1, 2, ... one every ``pause`` seconds, recorded in ``streams[key]`` as ``endless`` does: a
    caller's wait for each item is about ``pause``."""
    record = state.setdefault("streams", {}).setdefault(key, {"produced": 0, "closed": False})
    try:
        for i in itertools.count():
            record["produced"] = i
            yield i
            time.sleep(pause)
    finally:
        record["closed"] = True


@callback
def hold(items: Iterable[Any], seconds: float) -> Any:
    """Take nothing for ``seconds``, then the first item."""
    time.sleep(seconds)
    return next(iter(items))


@callback
async def aslow(key: str, pause: float) -> AsyncIterator[int]:
    record = state.setdefault("streams", {}).setdefault(key, {"produced": 0, "closed": False})
    try:
        for i in itertools.count():
            record["produced"] = i
            yield i
            await asyncio.sleep(pause)
    finally:
        record["closed"] = True


@callback
def leave() -> None:
    assert node is not None
    threading.Thread(target=node.stop).start()


@callback
class Calc:
    def __init__(self, base: int) -> None:
        self.base = base

    def plus_base(self, x: int) -> int:
        return self.base + x

    @staticmethod
    def twice(x: int) -> int:
        return 2 * x

    @classmethod
    def kind(cls) -> str:
        return cls.__name__

    def _hidden(self) -> None: ...


def offer_own(prefix: str) -> None:
    """Offer some callbacks again as ``<prefix>_<callback>``, so that calls can be aimed at this node alone."""
    for fn in (add, apply, echo, sleep, async_sleep, whoami, vitals, bump, count, tallies, event_loop):
        REGISTRY.register(f"{prefix}_{fn.__name__}", fn)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--listen")
    parser.add_argument("--controller", action="store_true", help="run the controller in this process")
    parser.add_argument("--max-message-size", type=int, default=128 * 1024 * 1024)
    parser.add_argument("--calc-base", type=int, help="create the Calc instance with this base")
    parser.add_argument("--own", action="store_true", help="also offer some callbacks as <name>_<callback>")
    parser.add_argument("--peer", action="append", default=[], help="the address of a node to link to directly")
    parser.add_argument("--secret", help="the mesh secret (default: $MESH_SECRET)")
    parser.add_argument("--tls", nargs=3, metavar=("CERT", "KEY", "CA"), help="mutual TLS with these PEM files")
    parser.add_argument("--async", dest="use_async", action="store_true", help="run the node on asyncio.run's loop")
    options = parser.parse_args()
    # Ctrl-C stops the node, as in a program run from a terminal, even when the test suite was
    # started as a background job, whose children inherit SIGINT ignored (Python then installs no
    # handler of its own and the tests' SIGINT would be lost).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    state["name"] = options.name
    if options.calc_base is not None:
        Calc(options.calc_base)
    if options.own:
        offer_own(options.name)
    settings: dict[str, Any] = {
        "process_name": options.name,
        "init_controller": options.controller,
        "host": options.host,
        "port": options.port,
        "listen": options.listen,
        "peers": options.peer,
        "max_message_size": options.max_message_size,
        "secret": options.secret,
        # Never the LAN, even with a secret and no controller address: it runs in this machine's namespace.
        "discovery": False,
        "tls": TLSConfig(*options.tls) if options.tls else None,
    }
    global node
    if options.use_async:

        async def run() -> None:
            global node
            async with Global(**settings) as g:
                node = g
                print(f"READY {g.address}", flush=True)
                await g.join_async()

        asyncio.run(run())
    else:
        node = Global(**settings)
        print(f"READY {node.address}", flush=True)
        node.join()


if __name__ == "__main__":
    main()
