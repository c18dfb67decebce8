"""Percentiles of latency samples and rates of timed batches."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Sequence
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``samples``."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency(prefix: str, samples: Sequence[float]) -> dict[str, float]:
    """``{prefix}_p50`` and ``{prefix}_p99`` of samples in seconds."""
    return {f"{prefix}_p50": percentile(samples, 50), f"{prefix}_p99": percentile(samples, 99)}


def timed(call: Callable[[], Any], count: int) -> list[float]:
    """Seconds each of ``count`` sequential runs of ``call`` took."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def timed_in_turn(first: Callable[[], Any], second: Callable[[], Any], count: int) -> tuple[list[float], list[float]]:
    """Seconds each of ``count`` runs of ``first`` and of ``second`` took, run one after the other in
    turn: a ratio of the two is fair even while the machine's load comes and goes."""
    firsts, seconds = [], []
    for _ in range(count):
        started = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        seconds.append(time.perf_counter() - middle)
        firsts.append(middle - started)
    return firsts, seconds


def in_flight(start: Callable[[], Any], count: int, window: int) -> float:
    """Calls per second of ``count`` calls that ``start()`` makes (each returns a result with ``get()``,
    as ``& BG`` does), with at most ``window`` unanswered at any time, until the last has answered."""
    waiting: collections.deque[Any] = collections.deque()
    started = time.perf_counter()
    for _ in range(count):
        if len(waiting) >= window:
            waiting.popleft().get()
        waiting.append(start())
    for result in waiting:
        result.get()
    return count / (time.perf_counter() - started)
