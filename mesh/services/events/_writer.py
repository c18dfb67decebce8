"""Group commit: one thread writes every publish that is waiting, together, in one durable transaction.

Publishes that arrive while a transaction is being written wait for the next one, so many
publishers (or one with many in flight) share each fsync. The groups' committed offsets ride along
in the same transactions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from ._log import EventStore

TRIM_EVERY = 1.0
"""Seconds between two retention passes, while there is retention to apply."""

_log = logging.getLogger("mesh.services.events")


class Writer:
    """Writes to ``log`` from a thread of its own until :meth:`close`."""

    def __init__(self, log: EventStore) -> None:
        self._log = log
        self._wake = threading.Condition()
        self._events: list[tuple[str, bytes]] = []
        # Each append's future and how many of the events waiting are its own.
        self._futures: list[tuple[asyncio.Future[list[int]], int]] = []
        self._commits: dict[tuple[str, str], int] = {}
        self._closing = False
        self._trims = log.retention.max_bytes is not None or log.retention.max_age is not None
        self._thread = threading.Thread(target=self._run, name="mesh-events-writer", daemon=True)
        self._thread.start()

    def append(self, events: list[tuple[str, bytes]]) -> asyncio.Future[list[int]]:
        """A future of the offsets of ``events`` (topic, payload bytes), in order, set once they are
        durable (in one transaction); called on the loop that awaits it."""
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        with self._wake:
            if self._closing:
                raise RuntimeError("the events service is closed")
            self._events += events
            self._futures.append((future, len(events)))
            self._wake.notify()
        return future

    def commit(self, group: str, topic: str, next_offset: int) -> None:
        """Record ``group``'s position in ``topic`` with the next transaction."""
        with self._wake:
            self._commits[group, topic] = next_offset
            self._wake.notify()

    def _run(self) -> None:
        trimmed = time.monotonic()
        while True:
            with self._wake:
                while not (self._events or self._commits or self._closing):
                    if not self._wake.wait(TRIM_EVERY if self._trims else None):
                        break
                events, futures, commits = self._events, self._futures, self._commits
                self._events, self._futures, self._commits = [], [], {}
                closing = self._closing
            if events or commits:
                self._write(events, futures, commits)
            if self._trims and time.monotonic() - trimmed >= TRIM_EVERY:
                self._log.trim()
                trimmed = time.monotonic()
            if closing and not events and not commits:
                return

    def _write(
        self,
        events: list[tuple[str, bytes]],
        futures: list[tuple[asyncio.Future[list[int]], int]],
        commits: dict[tuple[str, str], int],
    ) -> None:
        outcome: list[tuple[int, float]] | Exception
        try:
            outcome = self._log.write(events, [(group, topic, at) for (group, topic), at in commits.items()])
        except Exception as exc:
            _log.error("events: a write of %d events failed: %s", len(events), exc)
            outcome = exc
        if futures:
            # One hand-over to the loop for the whole batch, not one per publish.
            futures[0][0].get_loop().call_soon_threadsafe(_settle, futures, outcome)

    def close(self) -> None:
        """Write what is waiting, then stop the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()


def _settle(futures: list[tuple[asyncio.Future[list[int]], int]], outcome: list[tuple[int, float]] | Exception) -> None:
    first = 0
    for future, count in futures:
        if not future.done():  # done: the publish was cancelled
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result([offset for offset, _ in outcome[first : first + count]])
        first += count
