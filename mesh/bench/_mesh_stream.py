"""The mesh's stream rows: small items out of a generator (STREAM) and in as a ``stream(...)``
argument, and ``counts.stream_mib`` chunks of 1 MiB each way with the peak RSS of both processes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from mesh import FG, STREAM, Global, stream

from ._counts import Counts
from ._rss import PeakRss, rss_rows

# Runs a flood into the results under a key, with its CPU per item (mesh.bench._mesh._Flood).
Flood = Callable[[str, int, Callable[[], float]], None]


def measure(g: Global, counts: Counts, flood: Flood, callee_pid: int) -> dict[str, float]:
    """Every stream row of one run, to the callee ``callee_pid`` (``mesh.bench._callee``)."""
    flood("mesh_stream_items", counts.stream_items, lambda: _items_out(g, counts.stream_items))
    flood("mesh_stream_args", counts.stream_items, lambda: _items_in(g, counts.stream_items))
    results: dict[str, float] = {}
    pids = (os.getpid(), callee_pid)
    with PeakRss(pids) as peak:
        results["mesh_stream_out"] = _bytes_out(g, counts)
    results.update(rss_rows("mesh_stream_out", peak, pids))
    with PeakRss(pids) as peak:
        results["mesh_stream_in"] = _bytes_in(g, counts)
    results.update(rss_rows("mesh_stream_in", peak, pids))
    return results


def _items_out(g: Global, n: int) -> float:
    """Items per second of ``for x in g.call.numbers(n) & STREAM``, the callee's sync generator."""
    started = time.perf_counter()
    got = 0
    for _ in g.call.numbers(n) & STREAM:
        got += 1
    elapsed = time.perf_counter() - started
    if got != n:
        raise RuntimeError(f"STREAM of numbers({n}) gave {got} items")
    return n / elapsed


def _items_in(g: Global, n: int) -> float:
    """Items per second of ``g.call.count_items(stream(range(n))) & FG``, until the callee has counted them."""
    started = time.perf_counter()
    got = g.call.count_items(stream(range(n))) & FG
    elapsed = time.perf_counter() - started
    if got != n:
        raise RuntimeError(f"count_items(stream(range({n}))) answered {got}")
    return n / elapsed


def _bytes_out(g: Global, counts: Counts) -> float:
    """Bytes per second of ``counts.stream_mib`` chunks of 1 MiB out of the callee's generator."""
    total = counts.stream_bytes
    started = time.perf_counter()
    got = 0
    for chunk in g.call.chunks(counts.stream_mib, counts.mib) & STREAM:
        got += len(chunk)
    elapsed = time.perf_counter() - started
    if got != total:
        raise RuntimeError(f"STREAM of chunks gave {got} bytes of {total}")
    return total / elapsed


def _bytes_in(g: Global, counts: Counts) -> float:
    """Bytes per second of ``counts.stream_mib`` chunks of 1 MiB as a ``stream(...)`` argument, until
    the callee has counted them."""
    total = counts.stream_bytes
    chunk = b"\x01" * counts.mib

    def chunks() -> Iterator[bytes]:
        for _ in range(counts.stream_mib):
            yield chunk

    started = time.perf_counter()
    got = g.call.count_bytes(stream(chunks())) & FG
    elapsed = time.perf_counter() - started
    if got != total:
        raise RuntimeError(f"count_bytes(stream(...)) counted {got} bytes of {total}")
    return total / elapsed
