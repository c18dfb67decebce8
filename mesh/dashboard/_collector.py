"""The dashboard's collector: a member of the mesh that asks every node for its ``mesh.stats`` once a
round (one BROADCAST) and keeps the latest view for the page, ``/metrics`` and ``mesh top``.

A BROADCAST reaches the members this node knows, from the controller or by discovery, so the
collector works with either; a node that does not answer within the round shows with its error.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from mesh import BROADCAST, Global

from ._view import OBSERVERS, Snapshot, build_view


class Collector:
    """Polls ``g``'s mesh every ``interval`` seconds in a thread of its own (:meth:`start`), or once
    per :meth:`poll`; :meth:`wait_view` waits for a view newer than the one a reader has."""

    def __init__(
        self, g: Global, interval: float = 1.0, diagrams: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        self.g = g
        self.interval = interval
        self.diagrams = dict(diagrams or {})
        self.snapshots: dict[str, Snapshot] = {}
        self.version = 0
        self.view: dict[str, Any] = build_view([], {}, {})
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> dict[str, Any]:
        """Ask every node for its statistics now; the new view."""
        answers = self.g.call.mesh.stats() & BROADCAST(return_result=True, timeout=max(self.interval, 2.0))
        members = self.g.members()
        view = build_view(members, answers, self.snapshots, self.g.process_name, self.diagrams)
        present = {m["name"] for m in members if not m["name"].startswith(OBSERVERS)}
        snapshots = {name: s for name, s in answers.items() if isinstance(s, dict) and name in present}
        with self._changed:
            self.snapshots = snapshots
            self.view = view
            self.version += 1
            self._changed.notify_all()
        return view

    def start(self) -> None:
        """Poll in a thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="mesh-dashboard-collector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:
                if self._stop.is_set():
                    return
                with self._changed:
                    self.view = {**self.view, "problem": f"{type(exc).__name__}: {exc}"}
                    self.version += 1
                    self._changed.notify_all()
            self._stop.wait(self.interval)

    def wait_view(self, seen: int, timeout: float) -> tuple[int, dict[str, Any]]:
        """The view and its version once it is newer than ``seen`` (or ``timeout`` seconds have passed)."""
        with self._changed:
            self._changed.wait_for(lambda: self.version > seen or self._stop.is_set(), timeout)
            return self.version, self.view

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Stop polling (the readers waiting in :meth:`wait_view` return); idempotent."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
