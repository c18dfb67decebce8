"""The mesh rows: a caller node in this process, callee nodes (``bench._callee``) in children."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from mesh import BG, BROADCAST, FG, NO_RETURN, Global

from . import _gc, _loop, _mesh_stream, _services
from ._counts import JOIN_TIMEOUT, Counts, Transport
from ._cpu import process_cpu
from ._proc import Children
from ._stats import in_flight, latency, percentile, timed

# The BG row with a timeout: what a careful caller writes, and what a per-call timer costs.
BG_TIMEOUT = BG(timeout=30.0)


def measure(transport: Transport, counts: Counts, groups: set[str], children: Children) -> dict[str, float]:
    """Every selected mesh row of one run on ``transport``."""
    results: dict[str, float] = {}
    g = Global(process_name="bench-caller", init_controller=True, **transport.caller_options())  # type: ignore[arg-type]
    try:
        started = time.perf_counter()
        callee = children.start("mesh.bench._callee", "--name", "callee-1", *transport.callee_args())
        g.wait_function("add", timeout=JOIN_TIMEOUT)
        if g.call.add(1, 2) & FG != 3:
            raise RuntimeError("add(1, 2) did not answer 3")
        results["mesh_start"] = time.perf_counter() - started

        timed(lambda: g.call.add(1, 2) & FG, counts.warmup)
        if "fg" in groups:
            results.update(latency("mesh_fg_sync", timed(lambda: g.call.add(1, 2) & FG, counts.calls)))
            results.update(latency("mesh_fg_inline", timed(lambda: g.call.add_inline(1, 2) & FG, counts.calls)))
            # To the inline add, no thread hop on either side: what the mesh itself adds to gRPC.
            for name, key in (("add", "mesh_fg_async"), ("add_inline", "mesh_fg_async_inline")):
                fg_async = _async_samples(transport, name, (1, 2), counts.warmup, counts.calls)
                results.update(latency(key, _loop.run(fg_async)))
        flood = _Flood(g, results, callee.popen.pid)
        if "bg" in groups:
            flood("mesh_bg", counts.stream, lambda: _background(g, counts, "add"))
            flood("mesh_bg_inline", counts.stream, lambda: _background(g, counts, "add_inline"))
            flood("mesh_bg_timeout", counts.stream, lambda: _background(g, counts, "add", BG_TIMEOUT))
        if "no_return" in groups:
            flood("mesh_no_return", counts.no_return, lambda: _no_return(g, counts, "noop"))
            flood("mesh_no_return_inline", counts.no_return, lambda: _no_return(g, counts, "noop_inline"))
        if "payload" in groups:
            results["mesh_1mib_p50"] = _echo_p50(g, "echo", counts.mib, counts.payload_calls)
            results["mesh_1mib_inline_p50"] = _echo_p50(g, "echo_inline", counts.mib, counts.payload_calls)
            echo_async = _async_samples(transport, "echo", (b"\x01" * counts.mib,), 1, counts.payload_calls)
            results["mesh_1mib_async_p50"] = percentile(_loop.run(echo_async), 50)
            results["mesh_big_p50"] = _echo_p50(g, "echo", counts.big_bytes, counts.big_calls)
        if "bg" not in groups and groups & {"stream", "kv"}:
            # The stream of small items and the kv service's BG rows are read against BG in the same run.
            flood("mesh_bg", counts.stream, lambda: _background(g, counts, "add"))
        # Before BROADCAST starts more callees: these rows reach callee-1 alone.
        if "stream" in groups:
            results.update(_mesh_stream.measure(g, counts, flood, callee.popen.pid))
        if groups & {"kv", "storage"}:

            def flood_on(pid: int) -> _Flood:
                return _Flood(g, results, pid, gc=False)

            results.update(_services.measure(g, transport, counts, groups, children, flood_on))
        if "broadcast" in groups:
            if "fg" not in groups:
                results.update(latency("mesh_fg_sync", timed(lambda: g.call.add(1, 2) & FG, counts.calls)))
            results["mesh_broadcast_p50"] = _broadcast_p50(g, transport, counts, children)
    finally:
        g.stop()
    return results


async def _async_samples(
    transport: Transport, name: str, args: tuple[Any, ...], warmup: int, count: int
) -> list[float]:
    """Seconds of each of ``count`` sequential ``await g.call.NAME(*args) & FG``, after ``warmup``
    more, from the node of an async program."""
    async with Global(process_name="bench-async-caller", **transport.caller_options()) as g:  # type: ignore[arg-type]
        await g.wait_function(name, timeout=JOIN_TIMEOUT)
        call = getattr(g.call, name)
        samples = []
        for i in range(warmup + count):
            started = time.perf_counter()
            await call(*args) & FG
            if i >= warmup:
                samples.append(time.perf_counter() - started)
    return samples


class _Flood:
    """Runs a flood of calls into ``results``: its rate under ``key``, and for each side (``caller``, this
    process, and ``callee``) the CPU seconds per call under ``key_cpu_SIDE`` (where ``/proc`` tells)
    and the seconds of garbage collection per call under ``key_gc_SIDE``."""

    def __init__(self, g: Global, results: dict[str, float], callee_pid: int, gc: bool = True) -> None:
        self._global = g
        self._results = results
        self._callee_pid = callee_pid
        self._with_gc = gc  # False: the callee offers no gc_seconds() (a service's node)

    def _gc(self) -> tuple[float, float]:
        if not self._with_gc:
            return 0.0, 0.0
        return _gc.seconds(), self._global.call.gc_seconds() & FG

    def __call__(self, key: str, calls: int, run: Callable[[], float]) -> None:
        # The GC readings (a call to the callee) stay outside the CPU readings, which count the flood alone.
        gc_before = self._gc()
        caller_before, callee_before = process_cpu(os.getpid()), process_cpu(self._callee_pid)
        self._results[key] = run()
        caller_after, callee_after = process_cpu(os.getpid()), process_cpu(self._callee_pid)
        gc_after = self._gc()
        for side, before, after in (("caller", caller_before, caller_after), ("callee", callee_before, callee_after)):
            if before is not None and after is not None:
                self._results[f"{key}_cpu_{side}"] = (after - before) / calls
        for index, side in enumerate(("caller", "callee") if self._with_gc else ()):
            self._results[f"{key}_gc_{side}"] = (gc_after[index] - gc_before[index]) / calls


def _background(g: Global, counts: Counts, name: str, modifier: BG | type[BG] = BG) -> float:
    add = getattr(g.call, name)
    return in_flight(lambda: add(1, 2) & modifier, counts.stream, counts.in_flight)


def _no_return(g: Global, counts: Counts, name: str) -> float:
    """Calls per second, counted as done only once the callee has run every one of them."""
    noop = getattr(g.call, name)
    goal = (g.call.calls() & FG) + counts.no_return
    started = time.perf_counter()
    for _ in range(counts.no_return):
        noop() & NO_RETURN
    seen = g.call.wait_calls(goal, 300.0) & FG
    elapsed = time.perf_counter() - started
    if seen < goal:
        raise RuntimeError(f"the callee ran {seen} of {goal} NO_RETURN calls")
    return counts.no_return / elapsed


def _echo_p50(g: Global, name: str, size: int, count: int) -> float:
    echo = getattr(g.call, name)
    data = b"\x01" * size
    if len(echo(data) & FG) != size:
        raise RuntimeError(f"{name} of {size} bytes came back with another size")
    return percentile(timed(lambda: echo(data) & FG, count), 50)


def _broadcast_p50(g: Global, transport: Transport, counts: Counts, children: Children) -> float:
    """p50 of a BROADCAST to ``counts.broadcast_nodes`` callee processes (callee-1 runs already)."""
    nodes = counts.broadcast_nodes
    for number in range(2, nodes + 1):
        children.start("mesh.bench._callee", "--name", f"callee-{number}", *transport.callee_args())
    deadline = time.monotonic() + JOIN_TIMEOUT
    while sum("noop" in m["callbacks"] for m in g.members()) < nodes:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{nodes} callees did not join within {JOIN_TIMEOUT} s")
        time.sleep(0.05)

    def broadcast() -> None:
        if len(g.call.noop() & BROADCAST(return_result=True)) != nodes:
            raise RuntimeError(f"BROADCAST did not reach {nodes} nodes")

    timed(broadcast, min(counts.warmup, counts.broadcast_calls))
    return percentile(timed(broadcast, counts.broadcast_calls), 50)
