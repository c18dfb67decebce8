"""Facts about the running process, for the leak checks of the fault and load tests."""

from __future__ import annotations

import os


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
