"""What a running pipeline tells its mesh node: each processor's counters and the graph's edges, as gauges
(``Global.add_gauges``), which the node's ``mesh.stats`` snapshot carries to ``mesh dashboard``, ``mesh
top`` and the Prometheus metrics.

- ``mesh_pipeline_items_in``, ``mesh_pipeline_items_out``, ``mesh_pipeline_queue_depth``, labelled
  ``pipeline`` and ``processor``;
- ``mesh_pipeline_edge`` (always 1), labelled ``pipeline``, ``source`` and ``target``: one per edge, so
  that a reader can draw the pipeline without importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from ._graph import NodeSpec
from ._processor import ProcessorStatistics

Gauge = tuple[str, dict[str, str], float]


def pipeline_gauges(
    name: str, specs: Sequence[NodeSpec], statistics: Callable[[], Mapping[str, ProcessorStatistics]]
) -> Callable[[], Iterable[Gauge]]:
    """The gauge source of pipeline ``name``: its edges, and ``statistics()`` read at each snapshot."""
    edges = edges_of(specs)

    def gauges() -> Iterator[Gauge]:
        for processor, counters in statistics().items():
            labels = {"pipeline": name, "processor": processor}
            yield "mesh_pipeline_items_in", labels, float(counters.items_in)
            yield "mesh_pipeline_items_out", labels, float(counters.items_out)
            yield "mesh_pipeline_queue_depth", labels, float(counters.queue_depth)
        for source, target in edges:
            yield "mesh_pipeline_edge", {"pipeline": name, "source": source, "target": target}, 1.0

    return gauges


def edges_of(specs: Sequence[NodeSpec]) -> list[tuple[str, str]]:
    """The graph's edges, source to target, in the order of its nodes."""
    return [(spec.name, dest) for spec in specs for dest in spec.dests]
