"""A node's call statistics: what it served (by callback, kind and outcome, with a latency histogram),
what it sent (by callback and modifier), and gauges that services add (jobs by state, consumer lag).

Recording is a few dict and list updates in tables of the counting thread's own, without a lock;
everything else (adding the threads' tables up, percentiles, the snapshot other nodes read through
the ``mesh.stats`` callback) is done only when asked.

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

# Upper bounds of the latency buckets, in seconds: a tenth of a millisecond, doubling, to about 52 s;
# one more above.
BUCKETS: tuple[float, ...] = tuple(0.0001 * 2**i for i in range(20))

# One gauge row: metric name, labels, value.
Gauge = tuple[str, dict[str, str], float]
GaugeSource = Callable[[], Iterable[Gauge]]

# The prefix of the mesh's own callbacks: not shown as a member's callbacks.
INTERNAL_PREFIX = "mesh."
# Every node's callback that answers its snapshot (``Node.snapshot``).
STATS_CALLBACK = "mesh.stats"


# The kinds of served call, by index: a call's counts are ``counts[2 * kind + (0 if ok else 1)]``.
KINDS = ("reply", "no_return", "stream", "local")
REPLY, NO_RETURN, STREAM, LOCAL = range(len(KINDS))


class CallbackStats:
    """One callback's served calls as one thread counted them: counts by kind and outcome, latency
    bucket counts and their sum."""

    __slots__ = ("buckets", "counts", "seconds")

    def __init__(self) -> None:
        self.counts = [0] * (2 * len(KINDS))
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.seconds = 0.0

    def add(self, other: CallbackStats) -> None:
        for i, n in enumerate(list(other.counts)):
            self.counts[i] += n
        for i, n in enumerate(list(other.buckets)):
            self.buckets[i] += n
        self.seconds += other.seconds

    def as_dict(self) -> dict[str, Any]:
        counts = {f"{KINDS[i // 2]}/{'error' if i % 2 else 'ok'}": n for i, n in enumerate(self.counts) if n}
        return {"counts": dict(sorted(counts.items())), "buckets": list(self.buckets), "seconds": self.seconds}


class _Tables:
    """One thread's counters."""

    __slots__ = ("sent", "served")

    def __init__(self) -> None:
        self.served: dict[str, CallbackStats] = {}
        self.sent: dict[tuple[str, str], int] = {}

    def add(self, other: _Tables) -> None:
        """Add ``other``'s counts (a table its thread may still be counting in) to these."""
        # dict.copy() is one step under the GIL: the thread that owns the table may be counting.
        for name, stats in other.served.copy().items():
            self.served.setdefault(name, CallbackStats()).add(stats)
        for key, n in other.sent.copy().items():
            self.sent[key] = self.sent.get(key, 0) + n


class _ThreadTables(threading.local):
    """Each thread's own :class:`_Tables` (as ``tables``), so that counting takes no lock; ``stats``
    lists every thread's."""

    def __init__(self, stats: NodeStats) -> None:
        self.tables = _Tables()
        stats._enlist(self.tables)


class NodeStats:
    """The statistics of one node. :meth:`served` and :meth:`sent` count in the calling thread's own
    tables (no lock on the call path); :meth:`snapshot` adds them up."""

    def __init__(self) -> None:
        self.started = time.time()
        self._lock = threading.Lock()
        # Each counting thread and its tables; the counts of threads that ended, added up.
        self._threads: list[tuple[threading.Thread, _Tables]] = []
        self._ended = _Tables()
        self._local = _ThreadTables(self)
        self._gauges: list[GaugeSource] = []

    def served(self, name: str, kind: int, ok: bool, seconds: float) -> None:
        """Count one served call of callback ``name`` of ``kind`` (:data:`KINDS`) that took ``seconds``."""
        served = self._local.tables.served
        stats = served.get(name)
        if stats is None:
            stats = served[name] = CallbackStats()
        stats.counts[2 * kind + (not ok)] += 1
        stats.buckets[bisect_left(BUCKETS, seconds)] += 1
        stats.seconds += seconds

    def sent(self, name: str, modifier: str) -> None:
        """Count one call of ``name`` made here with ``modifier``."""
        sent = self._local.tables.sent
        key = (name, modifier)
        sent[key] = sent.get(key, 0) + 1

    def _enlist(self, tables: _Tables) -> None:
        """Count in ``tables`` for this thread (its first count); the tables of threads that ended are
        added to ``_ended``, so a program that starts many threads keeps few tables."""
        with self._lock:
            alive = []
            for thread, theirs in self._threads:
                if thread.is_alive():
                    alive.append((thread, theirs))
                else:
                    self._ended.add(theirs)
            alive.append((threading.current_thread(), tables))
            self._threads = alive

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
        total = _Tables()
        with self._lock:
            total.add(self._ended)
            for _, tables in self._threads:
                total.add(tables)
        served = {name: stats for name, stats in total.served.items() if not name.startswith(INTERNAL_PREFIX)}
        sent: dict[str, dict[str, int]] = {}
        for (name, modifier), n in sorted(total.sent.items()):
            if not name.startswith(INTERNAL_PREFIX):
                sent.setdefault(name, {})[modifier] = n
        gauges = []
        for source in list(self._gauges):
            gauges += [{"name": name, "labels": dict(labels), "value": value} for name, labels, value in source()]
        return {
            "started": self.started,
            "served": {name: served[name].as_dict() for name in sorted(served)},
            "sent": sent,
            "gauges": gauges,
        }


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
