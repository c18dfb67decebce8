"""CPU time of a process, read from ``/proc``: what a flood of calls costs each side, whatever the
machine's neighbours do to the wall clock."""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float | None:
    """Seconds of CPU (user + system, every thread) used by ``pid``; None where ``/proc`` is missing."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS
