"""The pipeline rows (issue #23): small items through four stages across three processes, against
the seed's style (four coroutines joined by ``asyncio.Queue`` in one process) in the same run; and a
slow sink on another node, with every process's peak memory.

::

    seed style (one process):  source -> inc -> double -> sink        asyncio.Queue(16) between each
    Plumber, one process:      the same four stages, anyio streams
    Plumber, three processes:  source (here) -> inc (node 1) -> double (node 2) -> sink (here)
    slow sink:                 source of 256 KiB items (here) -> same (node 1) -> slow sink (node 2)
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from mesh import Global
from mesh.pipelines import Plumber, Processor

from . import _loop
from ._counts import JOIN_TIMEOUT, MIB, Counts, Transport
from ._proc import Children
from ._rss import PeakRss

BUFFER = 16
SINK_ITEM = 256 * 1024
NODES = ("bench-pl-1", "bench-pl-2")


def measure(transport: Transport, counts: Counts, children: Children) -> dict[str, float]:
    """Every pipeline row of one run on ``transport``."""
    items = counts.pipeline_items
    results = {
        "pl_seed": _loop.run(_seed_style(items)),
        "pl_local": _loop.run(_timed(Plumber(_graph(items, "inc", "double"), buffer_size=BUFFER), items)),
    }
    g = Global(process_name="bench-pl-builder", init_controller=True, **transport.caller_options())  # type: ignore[arg-type]
    try:
        nodes = [
            children.start("mesh.bench._pipeline_node", "--name", name, *transport.callee_args()) for name in NODES
        ]
        _wait_serving(g)
        remote = _graph(
            items, {"coro": "bench_pl.inc", "node": NODES[0]}, {"coro": "bench_pl.double", "node": NODES[1]}
        )
        results["pl_mesh"] = _loop.run(_timed(Plumber(remote, g=g, buffer_size=BUFFER), items))
        count = max(1, counts.pipeline_sink_mib * MIB // SINK_ITEM)
        pids = [os.getpid(), *(node.popen.pid for node in nodes)]
        with PeakRss(pids) as peak:
            results["pl_sink"] = (
                _loop.run(_timed(Plumber(_sink_graph(count), g=g, window=8), count, "sink")) * SINK_ITEM
            )
        for side, pid in zip(("builder", "middle", "sink"), pids, strict=True):
            if pid in peak.growth:
                results[f"pl_sink_rss_{side}"] = peak.growth[pid]
    finally:
        g.stop()
    return results


def _wait_serving(g: Global) -> None:
    deadline = time.monotonic() + JOIN_TIMEOUT
    while {m["name"] for m in g.members() if "bench_pl.slow" in m["callbacks"]} != set(NODES):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pipeline nodes {NODES} did not join within {JOIN_TIMEOUT} s")
        time.sleep(0.05)


async def _timed(plumber: Plumber, items: int, sink: str = "out") -> float:
    """Items per second through ``plumber`` (run to the end), whose node ``sink`` takes them all."""
    started = time.perf_counter()
    await plumber.run()
    elapsed = time.perf_counter() - started
    if plumber.statistics()[sink].items_in != items:
        raise RuntimeError(f"the pipeline's sink did not take all {items} items: {plumber.statistics()}")
    return items / elapsed


def _graph(items: int, inc: Any, double: Any) -> dict[str, Any]:
    """source -> inc -> double -> out; ``inc`` and ``double``: a node entry or its coroutine."""

    async def source(self: Processor, output_q: Any) -> None:
        for i in range(items):
            await output_q.put(i)

    async def add_one(self: Processor, q_elt: tuple[Any, ...]) -> Any:
        return q_elt[0] + 1

    async def twice(self: Processor, q_elt: tuple[Any, ...]) -> Any:
        return q_elt[0] * 2

    async def out(self: Processor, q_elt: tuple[Any, ...]) -> None:
        return None

    def entry(stage: Any, local: Any) -> dict[str, Any]:
        return stage if isinstance(stage, dict) else {"coro": local}

    return {
        "nodes": {
            "source": {"coro": source},
            "inc": entry(inc, add_one),
            "double": entry(double, twice),
            "out": {"coro": out},
        },
        "graph": {"source": ("inc",), "inc": ("double",), "double": ("out",), "out": None},
    }


def _sink_graph(count: int) -> dict[str, Any]:
    """A source here, as fast as it can, -> ``same`` on node 1 -> a slow sink on node 2."""

    async def source(self: Processor, output_q: Any) -> None:
        for _ in range(count):
            await output_q.put(b"\x01" * SINK_ITEM)

    return {
        "nodes": {
            "source": {"coro": source},
            "pass": {"coro": "bench_pl.same", "node": NODES[0]},
            "sink": {"coro": "bench_pl.slow", "node": NODES[1]},
        },
        "graph": {"source": ("pass",), "pass": ("sink",), "sink": None},
    }


async def _seed_style(items: int) -> float:
    """The seed's way: a coroutine per stage, an ``asyncio.Queue`` between each, one item at a time."""
    queues = [asyncio.Queue[Any](BUFFER) for _ in range(3)]
    done = object()

    async def source() -> None:
        for i in range(items):
            await queues[0].put(i)
        await queues[0].put(done)

    async def stage(inbox: asyncio.Queue[Any], outbox: asyncio.Queue[Any], fn: Any) -> None:
        while (item := await inbox.get()) is not done:
            await outbox.put(await fn(item))
        await outbox.put(done)

    async def add_one(x: int) -> int:
        return x + 1

    async def twice(x: int) -> int:
        return x * 2

    taken = 0

    async def sink() -> None:
        nonlocal taken
        while await queues[2].get() is not done:
            taken += 1

    started = time.perf_counter()
    await asyncio.gather(source(), stage(queues[0], queues[1], add_one), stage(queues[1], queues[2], twice), sink())
    elapsed = time.perf_counter() - started
    if taken != items:
        raise RuntimeError(f"the seed-style pipeline's sink took {taken} of {items} items")
    return items / elapsed
