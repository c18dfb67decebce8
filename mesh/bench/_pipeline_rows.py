"""The rows of the pipelines (``mesh.bench._pipelines``) in the table: against the seed's style, in the same run."""

from __future__ import annotations

from ._counts import Counts
from ._table import Row


def pipeline_rows(counts: Counts) -> list[Row]:
    """Four stages of small items (seed style, Plumber here, Plumber across three processes), then
    the slow sink with each process's peak memory."""
    items, sink = f"{counts.pipeline_items:,}", f"{counts.pipeline_sink_mib} MiB"
    return [
        Row("pl_seed", f"seed-style pipeline: 4 coroutines joined by asyncio.Queue, {items} small items", True),
        Row("pl_local", "Plumber: the same 4 stages in one process (anyio streams)", True, "pl_seed", against="seed"),
        Row(
            "pl_mesh", "Plumber: the same 4 stages across 3 processes (2 on other nodes, direct between them)", True,
            "pl_seed", against="seed",
        ),
        Row("pl_sink", f"Plumber: {sink} in 256 KiB items via another node to a slow sink on a third", True, size=True),
        *(
            Row(f"pl_sink_rss_{side}", f"  peak RSS over idle, {name}", size=True)
            for side, name in (("builder", "builder process"), ("middle", "middle node"), ("sink", "sink node"))
        ),
    ]  # fmt: skip
