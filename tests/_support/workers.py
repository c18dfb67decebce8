"""Threads that keep calls going while the fault and load tests break things, and a polling wait."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``predicate`` until it holds and return the seconds that took; fail after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - started


class Worker:
    """Runs ``step(i)`` for i = 0, 1, ... on a thread until stopped; ``errors`` keeps what the steps raised."""

    def __init__(self, step: Callable[[int], Any]) -> None:
        self.steps = 0
        self.errors: list[BaseException] = []
        self._step = step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        for i in itertools.count():
            if self._stop.is_set():
                return
            try:
                self._step(i)
                self.steps += 1
            except Exception as exc:
                self.errors.append(exc)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step; fail if that step still blocks after ``timeout`` seconds."""
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"a call still blocks {timeout} s after the worker was stopped"


class Blocked:
    """One call made on its own thread; ``error`` is what it raised, ``ended_at`` when."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self.ended_at = 0.0
        self._make = make
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._make()
        except Exception as exc:
            self.error = exc
        self.ended_at = time.monotonic()

    def join(self, until: float) -> None:
        """Wait until the ``time.monotonic()`` instant ``until``; fail if the call still blocks then."""
        self._thread.join(max(0.0, until - time.monotonic()))
        assert not self._thread.is_alive(), "a call still blocks"
