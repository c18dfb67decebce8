"""The mesh as the dashboard and ``mesh top`` show it, made from two rounds of every node's ``mesh.stats``.

Rates (calls and errors per second) are the difference between this round and the one before; latency
percentiles are over every call since the node started, from the sum of the nodes' histograms.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ..node._stats import percentile

Snapshot = dict[str, Any]

# The names of the nodes that only look (``mesh dashboard``, ``mesh top``): left out of every view.
OBSERVERS = ("mesh-dashboard-", "mesh-top-")


def build_view(
    members: list[dict[str, Any]],
    now: Mapping[str, Snapshot | BaseException],
    before: Mapping[str, Snapshot],
    hidden: str = "",
    diagrams: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The view of the mesh: nodes, links, callbacks, jobs, event topics and pipelines.

    ``members`` are the known members (``Global.members()``), ``now`` each node's snapshot (or the
    error its ``mesh.stats`` call gave), ``before`` the previous round's; ``hidden`` is the name of
    the node that looks, left out as every :data:`OBSERVERS` is; ``diagrams`` the pipelines given by
    name (``mesh dashboard --pipeline``), each ``{"mermaid": text, "edges": [[source, target], ...]}``.
    """

    def shown(name: str) -> bool:
        return name != hidden and not name.startswith(OBSERVERS)

    snapshots = {name: s for name, s in now.items() if isinstance(s, dict) and shown(name)}
    nodes = []
    for member in members:
        name = member["name"]
        if not shown(name):
            continue
        snapshot = snapshots.get(name)
        row: dict[str, Any] = {
            "name": name,
            "address": member["address"],
            "callbacks": member["callbacks"],
            "status": "up" if snapshot is not None else _problem(now.get(name)),
        }
        if snapshot is not None:
            calls, errors = _served_totals(snapshot)
            elapsed = _elapsed(snapshot, before.get(name))
            old = _served_totals(before[name]) if name in before else (calls, errors)
            row.update(
                uptime=snapshot["time"] - snapshot["started"],
                in_flight=snapshot["in_flight"],
                workers=snapshot["workers"],
                calls=calls,
                errors=errors,
                calls_per_s=_rate(calls - old[0], elapsed),
                errors_per_s=_rate(errors - old[1], elapsed),
            )
        nodes.append(row)
    return {
        "time": time.time(),
        "nodes": nodes,
        "links": _links(snapshots, shown),
        "callbacks": _callbacks(snapshots, before),
        "jobs": _gauge_sums(snapshots, "mesh_jobs", "state"),
        "events": _events(snapshots),
        "pipelines": _pipelines(snapshots, before, diagrams or {}),
    }


def _problem(outcome: Snapshot | BaseException | None) -> str:
    if outcome is None:
        return "no answer yet"
    return f"{type(outcome).__name__}: {outcome}"


def _served_totals(snapshot: Snapshot) -> tuple[int, int]:
    calls = errors = 0
    for stats in snapshot["served"].values():
        for key, n in stats["counts"].items():
            calls += n
            if key.endswith("/error"):
                errors += n
    return calls, errors


def _elapsed(snapshot: Snapshot, previous: Snapshot | None) -> float:
    return 0.0 if previous is None else float(snapshot["time"] - previous["time"])


def _rate(count: int, elapsed: float) -> float:
    return round(count / elapsed, 2) if elapsed > 0 else 0.0


def _links(snapshots: Mapping[str, Snapshot], shown: Callable[[str], bool]) -> list[dict[str, Any]]:
    """Each link once (the pair's names in order), with the bytes sent each way."""
    links: dict[tuple[str, str], dict[str, Any]] = {}
    for name, snapshot in sorted(snapshots.items()):
        for link in snapshot["links"]:
            peer = link["peer"]
            if not shown(peer):
                continue
            a, b = sorted((name, peer))
            row = links.setdefault((a, b), {"a": a, "b": b, "a_to_b": 0, "b_to_a": 0, "in_flight": 0})
            out, back = ("a_to_b", "b_to_a") if name == a else ("b_to_a", "a_to_b")
            # What one side read is exact, what the other queued its own reckoning: the larger of the two.
            row[out] = max(row[out], link["bytes_out"])
            row[back] = max(row[back], link["bytes_in"])
            row["in_flight"] = max(row["in_flight"], link["in_flight"])
    return list(links.values())


def _callbacks(snapshots: Mapping[str, Snapshot], before: Mapping[str, Snapshot]) -> list[dict[str, Any]]:
    """Each callback over every node that served it: calls, errors, their rates, latency percentiles."""
    rows: dict[str, dict[str, Any]] = {}
    for name, snapshot in snapshots.items():
        previous = before.get(name)
        elapsed = _elapsed(snapshot, previous)
        for callback, stats in snapshot["served"].items():
            row = rows.setdefault(
                callback,
                {"name": callback, "nodes": [], "calls": 0, "errors": 0, "calls_per_s": 0.0, "errors_per_s": 0.0},
            )
            row["nodes"].append(name)
            calls, errors = _counts(stats)
            old = _counts(previous["served"].get(callback)) if previous is not None else (calls, errors)
            row["calls"] += calls
            row["errors"] += errors
            row["calls_per_s"] = round(row["calls_per_s"] + _rate(calls - old[0], elapsed), 2)
            row["errors_per_s"] = round(row["errors_per_s"] + _rate(errors - old[1], elapsed), 2)
            buckets = row.setdefault("_buckets", [0] * len(stats["buckets"]))
            for i, n in enumerate(stats["buckets"]):
                buckets[i] += n
    for row in rows.values():
        buckets = row.pop("_buckets")
        for label, q in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99)):
            value = percentile(buckets, q)
            row[label] = None if value is None else round(value * 1000, 3)
        row["nodes"].sort()
    return [rows[name] for name in sorted(rows)]


def _counts(stats: dict[str, Any] | None) -> tuple[int, int]:
    if stats is None:
        return 0, 0
    counts = stats["counts"]
    return sum(counts.values()), sum(n for key, n in counts.items() if key.endswith("/error"))


def _gauge_sums(snapshots: Mapping[str, Snapshot], metric: str, label: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    for snapshot in snapshots.values():
        for gauge in snapshot["gauges"]:
            if gauge["name"] == metric:
                key = gauge["labels"].get(label, "")
                sums[key] = sums.get(key, 0.0) + gauge["value"]
    return sums


def _events(snapshots: Mapping[str, Snapshot]) -> list[dict[str, Any]]:
    """Each topic with its events and each group's lag in it."""
    topics: dict[str, dict[str, Any]] = {}
    for snapshot in snapshots.values():
        for gauge in snapshot["gauges"]:
            labels = gauge["labels"]
            if gauge["name"] == "mesh_events_published":
                topics.setdefault(labels["topic"], {"topic": labels["topic"], "published": 0, "lag": {}})[
                    "published"
                ] += gauge["value"]
            elif gauge["name"] == "mesh_events_lag":
                row = topics.setdefault(labels["topic"], {"topic": labels["topic"], "published": 0, "lag": {}})
                row["lag"][labels["group"]] = gauge["value"]
    return [topics[name] for name in sorted(topics)]


def _pipelines(
    snapshots: Mapping[str, Snapshot], before: Mapping[str, Snapshot], given: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each pipeline: those running now, reported by their nodes (``mesh_pipeline_*`` gauges), with each
    processor's counters and rates; then those given by name, drawn but not running."""
    running: dict[str, dict[str, Any]] = {}
    for node, snapshot in sorted(snapshots.items()):
        previous = _pipeline_counters(before.get(node))
        elapsed = _elapsed(snapshot, before.get(node))
        for (pipeline, processor), counters in _pipeline_counters(snapshot).items():
            row = running.setdefault(pipeline, {"name": pipeline, "node": node, "processors": {}, "edges": []})
            old = previous.get((pipeline, processor), counters)
            row["processors"][processor] = {
                **counters,
                "in_per_s": _rate(int(counters["items_in"] - old["items_in"]), elapsed),
                "out_per_s": _rate(int(counters["items_out"] - old["items_out"]), elapsed),
            }
        for gauge in snapshot["gauges"]:
            if gauge["name"] == "mesh_pipeline_edge" and gauge["labels"]["pipeline"] in running:
                labels = gauge["labels"]
                running[labels["pipeline"]]["edges"].append([labels["source"], labels["target"]])
    shown = [running[name] for name in sorted(running)]
    shown += [
        {"name": name, "node": None, "processors": {}, "edges": drawn["edges"], "mermaid": drawn["mermaid"]}
        for name, drawn in sorted(given.items())
    ]
    return shown


_PIPELINE_COUNTERS = {
    "mesh_pipeline_items_in": "items_in",
    "mesh_pipeline_items_out": "items_out",
    "mesh_pipeline_queue_depth": "queue_depth",
}


def _pipeline_counters(snapshot: Snapshot | None) -> dict[tuple[str, str], dict[str, float]]:
    """``{(pipeline, processor): {"items_in", "items_out", "queue_depth"}}`` from a node's gauges."""
    counters: dict[tuple[str, str], dict[str, float]] = {}
    for gauge in [] if snapshot is None else snapshot["gauges"]:
        field = _PIPELINE_COUNTERS.get(gauge["name"])
        if field is not None:
            labels = gauge["labels"]
            counters.setdefault((labels["pipeline"], labels["processor"]), {})[field] = gauge["value"]
    return counters
