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

from mesh import _grpc_env
from mesh.node._event_loop import loop_name

from . import _loop, _malloc
from ._counts import MIB, Counts


@dataclass(frozen=True)
class Row:
    """One line of the table. ``baseline`` is the key it is divided by, in the same run."""

    key: str
    label: str
    rate: bool = False
    baseline: str | None = None
    micro: bool = False  # shown in microseconds (CPU per call) rather than milliseconds
    size: bool = False  # bytes, shown in MiB (a rate: MiB/s)
    against: str = ""  # the baseline's name in the table (default: from _SHORT, else its key)

    @property
    def detail(self) -> bool:
        """A row under another that says what it cost (CPU, memory), with no ratio of its own."""
        return self.micro or (self.size and not self.rate)


def rows(counts: Counts, peers: Sequence[str], services: Sequence[Row] = ()) -> list[Row]:
    """Every row the table can show, in order: the raw baseline's, the mesh's, ``services`` (the
    service rows, ``mesh.bench._service_rows``), then the peer libraries'."""
    big = f"{counts.big_mib} MiB"
    streamed = "1 GiB" if counts.stream_mib == 1024 else f"{counts.stream_mib} MiB"
    table = [
        Row("raw_seq_p50", "raw grpc.aio bidi echo, sequential p50"),
        Row("raw_seq_p99", "raw grpc.aio bidi echo, sequential p99"),
        Row("raw_pipelined", "raw grpc.aio bidi echo, pipelined on one stream", rate=True),
        Row("raw_1mib_p50", "raw grpc.aio bidi echo, 1 MiB p50"),
        Row("raw_big_p50", f"raw grpc.aio bidi echo, {big} p50"),
        Row("raw_start", "raw grpc.aio: process start to first echo"),
        Row("raw_stream_out", f"raw grpc.aio stream of {streamed} in 1 MiB chunks, server to client", True, size=True),
        *rss_rows("raw_stream_out", "client", "server"),
        Row("raw_stream_in", f"raw grpc.aio stream of {streamed} in 1 MiB chunks, client to server", True, size=True),
        *rss_rows("raw_stream_in", "client", "server"),
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
        *cpu_rows("mesh_bg"),
        Row("mesh_bg_inline", "mesh & BG, 1,000 in flight, inline callback", True, "raw_pipelined"),
        *cpu_rows("mesh_bg_inline"),
        Row("mesh_bg_timeout", "mesh & BG(timeout=30), 1,000 in flight", True, "raw_pipelined"),
        *cpu_rows("mesh_bg_timeout"),
        Row("mesh_no_return", "mesh & NO_RETURN, until the callee ran all", True, "raw_pipelined"),
        *cpu_rows("mesh_no_return"),
        Row(
            "mesh_no_return_inline",
            "mesh & NO_RETURN, inline callback, until the callee ran all",
            True,
            "raw_pipelined",
        ),
        *cpu_rows("mesh_no_return_inline"),
        Row("mesh_1mib_p50", "mesh echo 1 MiB, p50", baseline="raw_1mib_p50"),
        Row("mesh_1mib_inline_p50", "mesh echo 1 MiB, inline callback, p50", baseline="raw_1mib_p50"),
        Row("mesh_1mib_async_p50", "mesh echo 1 MiB from async code, p50", baseline="raw_1mib_p50"),
        Row("mesh_big_p50", f"mesh echo {big}, p50", baseline="raw_big_p50"),
        Row("mesh_stream_items", "mesh STREAM of small items from a generator (vs BG)", True, "mesh_bg"),
        *cpu_rows("mesh_stream_items", "item"),
        Row("mesh_stream_args", "mesh stream(...) argument of small items, in (vs BG)", True, "mesh_bg"),
        *cpu_rows("mesh_stream_args", "item"),
        Row(
            "mesh_stream_out",
            f"mesh STREAM of {streamed} in 1 MiB chunks from a generator",
            True,
            "raw_stream_out",
            size=True,
        ),
        *rss_rows("mesh_stream_out", "caller", "callee"),
        Row(
            "mesh_stream_in",
            f"mesh stream(...) argument of {streamed} in 1 MiB chunks",
            True,
            "raw_stream_in",
            size=True,
        ),
        *rss_rows("mesh_stream_in", "caller", "callee"),
        Row(
            "mesh_broadcast_p50",
            f"mesh BROADCAST to {counts.broadcast_nodes} nodes, p50 (vs FG)",
            baseline="mesh_fg_sync_p50",
        ),
        Row("mesh_start", "mesh: process start to first answered call", baseline="raw_start"),
        *services,
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


def cpu_rows(key: str, per: str = "call") -> list[Row]:
    """CPU per call (or item) of the flood row ``key``, on each side (what limits its rate on a
    shared machine), and how much of it went to garbage collection."""
    sides = ("caller", "callee")
    return [Row(f"{key}_cpu_{side}", f"  CPU per {per}, {side} process", micro=True) for side in sides] + [
        Row(f"{key}_gc_{side}", f"  of which garbage collection, {side}", micro=True) for side in sides
    ]


def rss_rows(key: str, caller: str, callee: str) -> list[Row]:
    """The most memory each process of the row ``key`` held above what it held at the row's start;
    the caller is this process."""
    return [
        Row(f"{key}_rss_{side}", f"  peak RSS over idle, {name} process", size=True)
        for side, name in (("caller", caller), ("callee", callee))
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
    "mesh_bg": "mesh BG",
    "raw_stream_out": "raw stream out",
    "raw_stream_in": "raw stream in",
}


def _value(row: Row, value: float) -> str:
    if row.size:
        return f"{value / MIB:,.1f} MiB" + ("/s" if row.rate else "")
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
        if row.detail:
            shown = against = ""
        elif row.baseline is None:
            shown, against = "1.00x", "(baseline)"
        else:
            shown = f"{ratio:.2f}x" if ratio is not None else "-"
            against = row.against or _SHORT.get(row.baseline, row.baseline)
        lines.append(f"| {row.label} | {_value(row, median)} | {shown} | {against} |")
    return "\n".join(lines)


def machine() -> str:
    """nproc, CPU model, Python and grpcio versions, gRPC core's experiments (its I/O engine, see
    ``mesh/_grpc_env.py``), and the event loop and malloc settings of every side of the run."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    experiments = _grpc_env.POLL_ENGINE if _grpc_env.poll_engine else os.environ.get("GRPC_EXPERIMENTS", "")
    return (
        f"machine: nproc={os.cpu_count()}, CPU {model}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, grpcio {grpc.__version__} "
        f"(GRPC_EXPERIMENTS={experiments!r}); "
        f"event loop {loop_name(_loop.get())}; "
        f"malloc: {_malloc.apply()} in every process but the peer libraries'"
    )
