"""Peak resident memory of processes while a row runs, read from ``/proc`` (Linux only).

Writing ``5`` to ``/proc/PID/clear_refs`` resets the process's peak (``VmHWM``) to what it holds now
(``VmRSS``); the peak read after the row, less what it held before, is what the row added at most.
"""

from __future__ import annotations

from collections.abc import Sequence


def _status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakRss:
    """``with PeakRss(pids) as peak:`` around a row; :attr:`growth` then gives, per process, the most
    bytes it held during the row above what it held at its start (missing where ``/proc`` says
    nothing or the peak cannot be reset)."""

    def __init__(self, pids: Sequence[int]) -> None:
        self._pids = list(pids)
        self._idle: dict[int, int] = {}
        self.growth: dict[int, float] = {}

    def __enter__(self) -> PeakRss:
        for pid in self._pids:
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as clear:
                    clear.write("5")
            except OSError:
                continue
            idle = _status_kib(pid, "VmRSS:")
            if idle is not None:
                self._idle[pid] = idle
        return self

    def __exit__(self, *exc_info: object) -> None:
        for pid, idle in self._idle.items():
            peak = _status_kib(pid, "VmHWM:")
            if peak is not None:
                self.growth[pid] = max(0, peak - idle) * 1024.0


def rss_rows(key: str, peak: PeakRss, pids: tuple[int, int]) -> dict[str, float]:
    """``key_rss_caller`` and ``key_rss_callee``: the peak RSS growth of this process and the other."""
    sides = dict(zip(pids, ("caller", "callee"), strict=True))
    return {f"{key}_rss_{sides[pid]}": growth for pid, growth in peak.growth.items()}
