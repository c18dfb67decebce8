"""A node's call statistics: what it served (by callback, kind and outcome, with a latency histogram),
what it sent (by callback and modifier), and gauges that services add (jobs by state, consumer lag).

Recording is a few dict and list updates under one uncontended lock; everything else (percentiles,
the snapshot other nodes read through the ``mesh.stats`` callback) is done only when asked.

A served call's kind is what the wire says of its modifier: ``reply`` (FG, BG, BROADCAST: an answer
goes back), ``no_return``, ``stream`` (STREAM, or streamed arguments), ``local`` (a node's call to its
own callback); the caller's modifier itself is counted where the call is made, in ``sent``.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# Upper bounds of the latency buckets, in seconds: 100 us, doubling, to about 52 s; one more above.
BUCKETS: tuple[float, ...] = tuple(0.0001 * 2**i for i in range(20))

# One gauge row: metric name, labels, value.
Gauge = tuple[str, dict[str, str], float]
GaugeSource = Callable[[], Iterable[Gauge]]

# The prefix of the mesh's own callbacks: not shown as a member's callbacks.
INTERNAL_PREFIX = "mesh."
# Every node's callback that answers its snapshot (``Node.snapshot``).
STATS_CALLBACK = "mesh.stats"


class CallbackStats:
    """One callback's served calls: counts by ``(kind, ok)``, latency bucket counts and their sum."""

    __slots__ = ("buckets", "counts", "seconds")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, bool], int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.seconds = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": {f"{kind}/{'ok' if ok else 'error'}": n for (kind, ok), n in sorted(self.counts.items())},
            "buckets": list(self.buckets),
            "seconds": self.seconds,
        }


class NodeStats:
    """The statistics of one node; :meth:`served` and :meth:`sent` are safe from any thread."""

    def __init__(self) -> None:
        self.started = time.time()
        self._lock = threading.Lock()
        self._served: dict[str, CallbackStats] = {}
        self._sent: dict[tuple[str, str], int] = {}
        self._gauges: list[GaugeSource] = []

    def served(self, name: str, kind: str, ok: bool, seconds: float) -> None:
        """Count one served call of callback ``name`` that took ``seconds``."""
        with self._lock:
            stats = self._served.get(name)
            if stats is None:
                stats = self._served[name] = CallbackStats()
            key = (kind, ok)
            stats.counts[key] = stats.counts.get(key, 0) + 1
            stats.buckets[bisect_left(BUCKETS, seconds)] += 1
            stats.seconds += seconds

    def sent(self, name: str, modifier: str) -> None:
        """Count one call of ``name`` made here with ``modifier``."""
        key = (name, modifier)
        with self._lock:
            self._sent[key] = self._sent.get(key, 0) + 1

    def add_gauges(self, source: GaugeSource) -> None:
        """Read ``source()`` (rows of metric name, labels, value) into every snapshot."""
        self._gauges.append(source)

    def remove_gauges(self, source: GaugeSource) -> None:
        """Stop reading ``source``; nothing happens when it was not added."""
        if source in self._gauges:
            self._gauges.remove(source)

    def snapshot(self) -> dict[str, Any]:
        """The counters so far as plain values: ``served``, ``sent``, ``gauges``, ``started``; the mesh's own
        callbacks (``mesh.*``, as the dashboard's polls) are left out."""
        with self._lock:
            served = {
                name: stats.as_dict()
                for name, stats in sorted(self._served.items())
                if not name.startswith(INTERNAL_PREFIX)
            }
            sent: dict[str, dict[str, int]] = {}
            for (name, modifier), n in sorted(self._sent.items()):
                if not name.startswith(INTERNAL_PREFIX):
                    sent.setdefault(name, {})[modifier] = n
        gauges = []
        for source in list(self._gauges):
            gauges += [{"name": name, "labels": dict(labels), "value": value} for name, labels, value in source()]
        return {"started": self.started, "served": served, "sent": sent, "gauges": gauges}


def percentile(buckets: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 to 1) of a latency histogram of :data:`BUCKETS`, interpolated within its
    bucket; None when it is empty."""
    total = sum(buckets)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(buckets):
        if count and seen + count >= rank:
            low = BUCKETS[i - 1] if i else 0.0
            high = BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1] * 2
            return low + (high - low) * max(rank - seen, 0) / count
        seen += count
    return BUCKETS[-1] * 2
