"""Which nodes run which jobs: the callbacks each member offers (from ``g.members()``), the jobs each
worker runs now, and the choice of the least loaded worker under its concurrency limit."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Any

from mesh import Global

REFRESH = 1.0
"""Seconds between two reads of the membership when no join or leave asked for one earlier."""


class Workers:
    """The workers of ``g``'s mesh, each running at most ``concurrency`` jobs of this service at once."""

    def __init__(self, g: Global, concurrency: int, service_prefix: str) -> None:
        self._g = g
        self.concurrency = concurrency
        self._own = service_prefix + "."
        self._offers: dict[str, list[str]] = {}
        self.running: Counter[str] = Counter()
        self._last_use: dict[str, int] = {}
        self._uses = itertools.count()
        self.next_refresh = 0.0

    def refresh(self) -> None:
        """Read who offers what again (at once, and then every :data:`REFRESH` seconds)."""
        offers: dict[str, list[str]] = {}
        members: list[dict[str, Any]] = self._g.members()
        for member in members:
            for name in member["callbacks"]:
                offers.setdefault(name, []).append(member["name"])
        self._offers = offers
        self.next_refresh = time.monotonic() + REFRESH

    def offer(self, name: str) -> bool:
        return name in self._offers

    def offered(self) -> list[str]:
        """Every callback some node offers, but this service's own."""
        return sorted(name for name in self._offers if not name.startswith(self._own))

    def choose(self, name: str) -> str | None:
        """The worker offering ``name`` with the fewest jobs running (of those under the limit), the one
        used longest ago among equals; None when there is none."""
        best: str | None = None
        best_key = (self.concurrency, 0)
        for worker in self._offers.get(name, ()):
            key = (self.running[worker], self._last_use.get(worker, -1))
            if key < best_key:
                best, best_key = worker, key
        if best is not None:
            self.running[best] += 1
            self._last_use[best] = next(self._uses)
        return best

    def release(self, worker: str) -> None:
        self.running[worker] -= 1
        if self.running[worker] <= 0:
            del self.running[worker]

    def forget(self, worker: str) -> None:
        """``worker`` left: offer it no more jobs until the membership says it is back."""
        for nodes in self._offers.values():
            if worker in nodes:
                nodes.remove(worker)
