"""Per-call timeouts on one timer per node: calls whose deadlines fall in the same tick share a bucket.

``loop.call_later`` for every call with a timeout would cost a ``TimerHandle``, a push onto the
loop's heap of timers (compared by a Python ``__lt__``), a done-callback to cancel it and, once half
of that heap is cancelled timers, a rebuild of the heap: about twice the caller's CPU per call in a
BG flood with a timeout (bench/README.md has the figures).

Here a call with a timeout is one entry in the dict of the tick its deadline falls in, removed by
whoever settles the call; the node's loop keeps one timer, for the earliest tick that has a bucket.
A deadline is rounded up to its tick, so a timeout fires never early and at most one tick late:
:data:`TICK`, or a hundredth of the timeout for a timeout longer than :data:`TICK` x 100.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections.abc import Callable, Hashable
from typing import Any, TypeAlias

logger = logging.getLogger("mesh")

# Seconds a tick lasts: the most a short timeout fires late.
TICK = 0.01
# A timeout this many ticks long or longer is rounded to 1/STEPS of itself (fewer buckets, fewer wake-ups).
STEPS = 100
# Calls that expire in one tick: each key (a call's future) with the function to call with it then
# (for calls from other threads one function serves all, so that no object is made per call).
# Settling a call removes its key (``bucket.pop(key, None)``, safe from any thread).
Bucket: TypeAlias = dict[Any, Callable[[Any], object]]


class Deadlines:
    """The timeouts of one loop's calls. :meth:`add` and :meth:`close` run on the loop's thread."""

    __slots__ = ("_buckets", "_loop", "_ticks", "_timer", "_timer_tick")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[int, Bucket] = {}
        # The ticks of the buckets, a heap: pushed once per bucket, not once per call.
        self._ticks: list[int] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick = 0

    def __len__(self) -> int:
        """Calls waiting on a deadline: neither settled nor expired."""
        return sum(len(bucket) for bucket in list(self._buckets.values()))

    def add(self, timeout: float, key: Hashable, expire: Callable[[Any], object]) -> Bucket:
        """Run ``expire(key)`` once ``timeout`` seconds have passed, unless ``key`` is popped from the
        returned bucket before."""
        step = max(1, int(timeout / TICK) // STEPS)
        tick = -(-math.ceil((self._loop.time() + timeout) / TICK) // step) * step
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = {}
            heapq.heappush(self._ticks, tick)
            if self._timer is None or tick < self._timer_tick:
                self._arm(tick)
        bucket[key] = expire
        return bucket

    def close(self) -> None:
        """Drop every deadline and the timer (the node stops; its loop may serve another node)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buckets.clear()
        self._ticks.clear()

    def _arm(self, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(tick * TICK, self._fire)
        self._timer_tick = tick

    def _fire(self) -> None:
        self._timer = None
        # The loop runs a timer up to its clock's resolution early; that must not skip the tick.
        now = self._loop.time() + 1e-6
        ticks = self._ticks
        while ticks and ticks[0] * TICK <= now:
            bucket = self._buckets.pop(heapq.heappop(ticks), None)
            # A snapshot: another thread may pop a key meanwhile.
            for key, expire in list(bucket.items()) if bucket else ():
                try:
                    expire(key)
                except Exception:
                    logger.exception("mesh: expiring %r with %r failed", key, expire)
        if ticks:
            self._arm(ticks[0])
