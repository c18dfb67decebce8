"""The rows of the report, their baselines, and the table printed from the runs.

The table compares; it judges nothing. The project's own targets, and how they were met, are in
bench/README.md.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from mesh.node._event_loop import loop_name

from . import _loop, _malloc
from ._counts import Counts


@dataclass(frozen=True)
class Row:
    """One line of the table. ``baseline`` is the key it is divided by, in the same run."""

    key: str
    label: str
    rate: bool = False
    baseline: str | None = None
    micro: bool = False  # shown in microseconds (CPU per call) rather than milliseconds


def rows(counts: Counts, peers: Sequence[str]) -> list[Row]:
    big = f"{counts.big_mib} MiB"
    table = [
        Row("raw_seq_p50", "raw grpc.aio bidi echo, sequential p50"),
        Row("raw_seq_p99", "raw grpc.aio bidi echo, sequential p99"),
        Row("raw_pipelined", "raw grpc.aio bidi echo, pipelined on one stream", rate=True),
        Row("raw_1mib_p50", "raw grpc.aio bidi echo, 1 MiB p50"),
        Row("raw_big_p50", f"raw grpc.aio bidi echo, {big} p50"),
        Row("raw_start", "raw grpc.aio: process start to first echo"),
        Row("raw_sync_seq_p50", "raw grpc.aio echo asked from a sync thread, p50", baseline="raw_seq_p50"),
        Row("mesh_fg_sync_p50", "mesh & FG from sync code, p50", baseline="raw_seq_p50"),
        Row("mesh_fg_sync_p99", "mesh & FG from sync code, p99", baseline="raw_seq_p99"),
        Row("mesh_fg_sync_p50", "mesh & FG from sync code, p50 (vs sync floor)", baseline="raw_sync_seq_p50"),
        Row("mesh_fg_inline_p50", "mesh & FG from sync code, inline callback, p50", baseline="raw_seq_p50"),
        Row("mesh_fg_inline_p99", "mesh & FG from sync code, inline callback, p99", baseline="raw_seq_p99"),
        Row("mesh_fg_async_p50", "mesh & FG from async code, p50", baseline="raw_seq_p50"),
        Row("mesh_fg_async_p99", "mesh & FG from async code, p99", baseline="raw_seq_p99"),
        Row("mesh_fg_async_inline_p50", "mesh & FG from async code, inline callback, p50", baseline="raw_seq_p50"),
        Row("mesh_fg_async_inline_p99", "mesh & FG from async code, inline callback, p99", baseline="raw_seq_p99"),
        Row("mesh_bg", "mesh & BG, 1,000 in flight", True, "raw_pipelined"),
        *_cpu_rows("mesh_bg"),
        Row("mesh_bg_inline", "mesh & BG, 1,000 in flight, inline callback", True, "raw_pipelined"),
        *_cpu_rows("mesh_bg_inline"),
        Row("mesh_bg_timeout", "mesh & BG(timeout=30), 1,000 in flight", True, "raw_pipelined"),
        *_cpu_rows("mesh_bg_timeout"),
        Row("mesh_no_return", "mesh & NO_RETURN, until the callee ran all", True, "raw_pipelined"),
        *_cpu_rows("mesh_no_return"),
        Row(
            "mesh_no_return_inline",
            "mesh & NO_RETURN, inline callback, until the callee ran all",
            True,
            "raw_pipelined",
        ),
        *_cpu_rows("mesh_no_return_inline"),
        Row("mesh_1mib_p50", "mesh echo 1 MiB, p50", baseline="raw_1mib_p50"),
        Row("mesh_1mib_inline_p50", "mesh echo 1 MiB, inline callback, p50", baseline="raw_1mib_p50"),
        Row("mesh_1mib_async_p50", "mesh echo 1 MiB from async code, p50", baseline="raw_1mib_p50"),
        Row("mesh_big_p50", f"mesh echo {big}, p50", baseline="raw_big_p50"),
        Row(
            "mesh_broadcast_p50",
            f"mesh BROADCAST to {counts.broadcast_nodes} nodes, p50 (vs FG)",
            baseline="mesh_fg_sync_p50",
        ),
        Row("mesh_start", "mesh: process start to first answered call", baseline="raw_start"),
    ]
    names = {"daffi": "daffi 2.2.1", "pyro5": "Pyro5", "rpyc": "RPyC"}
    for peer in peers:
        key, name = peer.lower(), names[peer.lower()]
        table += [
            Row(f"{key}_seq_p50", f"{name} sequential call, p50", baseline="raw_seq_p50"),
            Row(f"{key}_seq_p99", f"{name} sequential call, p99", baseline="raw_seq_p99"),
            Row(f"{key}_bg", f"{name} async calls, 1,000 in flight", True, "raw_pipelined"),
            Row(f"{key}_no_return", f"{name} fire-and-forget, until the callee ran all", True, "raw_pipelined"),
            Row(f"{key}_1mib_p50", f"{name} echo 1 MiB, p50", baseline="raw_1mib_p50"),
        ]
    return table


def _cpu_rows(key: str) -> list[Row]:
    """CPU per call of the flood row ``key``, on each side (what limits its rate on a shared machine),
    and how much of it went to garbage collection."""
    sides = ("caller", "callee")
    return [Row(f"{key}_cpu_{side}", f"  CPU per call, {side} process", micro=True) for side in sides] + [
        Row(f"{key}_gc_{side}", f"  of which garbage collection, {side}", micro=True) for side in sides
    ]


_SHORT = {
    "raw_seq_p50": "raw seq p50",
    "raw_seq_p99": "raw seq p99",
    "raw_pipelined": "raw pipelined",
    "raw_1mib_p50": "raw 1 MiB p50",
    "raw_big_p50": "raw big p50",
    "raw_start": "raw start",
    "mesh_fg_sync_p50": "mesh FG sync p50",
    "raw_sync_seq_p50": "raw sync-thread p50",
}


def _value(row: Row, value: float) -> str:
    if row.micro:
        return f"{value * 1e6:.1f} us"
    return f"{value:,.0f}/s" if row.rate else f"{value * 1000:.3f} ms"


def render(transport: str, runs: Sequence[dict[str, float]], table: Sequence[Row]) -> str:
    """The table of one transport: per row the median over ``runs`` and the median per-run ratio."""
    lines = [
        f"### {transport}: median of {len(runs)} run(s); ratio = median over runs of (row / baseline of that run)",
        "",
        "| row | median | ratio | baseline |",
        "| --- | ---: | ---: | --- |",
    ]
    for row in table:
        values = [run[row.key] for run in runs if row.key in run]
        if not values:
            continue
        median = statistics.median(values)
        ratios = [run[row.key] / run[row.baseline] for run in runs if row.key in run and row.baseline in run]
        ratio = statistics.median(ratios) if ratios else None
        if row.micro:
            shown = against = ""
        elif row.baseline is None:
            shown, against = "1.00x", "(baseline)"
        else:
            shown = f"{ratio:.2f}x" if ratio is not None else "-"
            against = _SHORT.get(row.baseline, row.baseline)
        lines.append(f"| {row.label} | {_value(row, median)} | {shown} | {against} |")
    return "\n".join(lines)


def machine() -> str:
    """nproc, CPU model, Python and grpcio versions, and the event loop and malloc settings of every
    side of the run."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"machine: nproc={os.cpu_count()}, CPU {model}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, grpcio {grpc.__version__}; event loop {loop_name(_loop.get())}; "
        f"malloc: {_malloc.apply()} in every process but the peer libraries'"
    )
