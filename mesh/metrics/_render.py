"""Nodes' ``mesh.stats`` snapshots as Prometheus metrics (the text format, by prometheus-client).

Every metric has a ``node`` label; the gauges that services add (``Global.add_gauges``) keep their own
names and labels.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from ..node._stats import BUCKETS

Snapshot = dict[str, Any]
# The Prometheus text format's content type.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_GAUGE_HELP = "Reported by a service on this node (Global.add_gauges)"


def render(snapshots: Mapping[str, Snapshot]) -> bytes:
    """The Prometheus text of ``snapshots`` (node name to snapshot)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshots))
    text: bytes = generate_latest(registry)
    return text


class _SnapshotCollector:
    def __init__(self, snapshots: Mapping[str, Snapshot]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        served = CounterMetricFamily(
            "mesh_calls_served", "Calls this node served, by callback, kind and outcome",
            labels=["node", "callback", "kind", "outcome"],
        )  # fmt: skip
        latency = HistogramMetricFamily(
            "mesh_call_duration_seconds", "How long this node took to serve a call, by callback",
            labels=["node", "callback"],
        )  # fmt: skip
        sent = CounterMetricFamily(
            "mesh_calls_sent", "Calls this node made, by callback and modifier", labels=["node", "callback", "modifier"]
        )
        in_flight = GaugeMetricFamily("mesh_calls_in_flight", "Calls in flight on this node's links", labels=["node"])
        links = GaugeMetricFamily("mesh_links", "This node's live links to other nodes", labels=["node"])
        bytes_in = CounterMetricFamily(
            "mesh_link_received_bytes", "Bytes this node read from a peer", labels=["node", "peer"]
        )
        bytes_out = CounterMetricFamily(
            "mesh_link_sent_bytes", "Bytes this node queued for a peer", labels=["node", "peer"]
        )
        started = GaugeMetricFamily(
            "mesh_node_start_time_seconds", "When this node started (Unix time)", labels=["node"]
        )
        # One family per gauge name, its labels those of its first row (a service reports the same ones).
        gauges: dict[str, tuple[GaugeMetricFamily, tuple[str, ...]]] = {}
        for node, snapshot in sorted(self._snapshots.items()):
            for callback, stats in snapshot["served"].items():
                for key, count in stats["counts"].items():
                    kind, outcome = key.split("/")
                    served.add_metric([node, callback, kind, outcome], count)
                cumulative = 0
                buckets = []
                for bound, count in zip((*BUCKETS, float("inf")), stats["buckets"], strict=True):
                    cumulative += count
                    buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
                latency.add_metric([node, callback], buckets, stats["seconds"])
            for callback, modifiers in snapshot["sent"].items():
                for modifier, count in modifiers.items():
                    sent.add_metric([node, callback, modifier], count)
            in_flight.add_metric([node], snapshot["in_flight"])
            links.add_metric([node], len(snapshot["links"]))
            for link in snapshot["links"]:
                bytes_in.add_metric([node, link["peer"]], link["bytes_in"])
                bytes_out.add_metric([node, link["peer"]], link["bytes_out"])
            started.add_metric([node], snapshot["started"])
            for gauge in snapshot["gauges"]:
                if gauge["name"] not in gauges:
                    names = tuple(sorted(gauge["labels"]))
                    help_text = "Reported by a service on this node (Global.add_gauges)"
                    gauges[gauge["name"]] = (
                        GaugeMetricFamily(gauge["name"], help_text, labels=["node", *names]),
                        names,
                    )
                family, names = gauges[gauge["name"]]
                family.add_metric([node, *(str(gauge["labels"].get(n, "")) for n in names)], gauge["value"])
        yield from (served, latency, sent, in_flight, links, bytes_in, bytes_out, started)
        yield from (family for family, _ in gauges.values())
