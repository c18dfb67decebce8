"""Time this process spends in garbage collection, timed with ``gc.callbacks``.

A flood keeps many calls alive at once, and every collection walks over them: the rows under each
flood of the table show what that costs each side per call.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class _Timer:
    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


_timer = _Timer()


def seconds() -> float:
    """Seconds spent in collections since the first call of this function in this process."""
    if _timer not in gc.callbacks:
        gc.callbacks.append(_timer)
    return _timer.seconds
