"""Recurring jobs: a :class:`Schedule` submits a job of its callback every ``every`` seconds or at the
times of a cron expression (croniter, the ``grpcmesh[cron]`` extra)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from mesh import UsageError


@dataclass
class Schedule:
    """A recurring job: ``name(*args, **kwargs)`` submitted with ``options`` at each of its times."""

    id: str
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    every: float | None
    cron: str | None
    next_at: float

    def following(self, after: float) -> float:
        """The first time of the schedule later than ``after``."""
        if self.every is not None:
            steps = math.floor((after - self.next_at) / self.every) + 1
            return self.next_at + max(steps, 1) * self.every
        return cron_next(str(self.cron), after)


def check_cron(expression: str) -> None:
    """Raise ``UsageError`` naming what is wrong with ``expression``, or that croniter is missing."""
    croniter = _croniter()
    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise UsageError(f"cron expression {expression!r} is not valid (five fields: minute hour day month weekday)")


def cron_next(expression: str, after: float) -> float:
    """The first time of ``expression`` (UTC) later than ``after``."""
    start = datetime.fromtimestamp(after, timezone.utc)
    return float(_croniter()(expression, start).get_next(float))


def _croniter() -> Any:
    try:
        from croniter import croniter  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise UsageError("cron schedules need croniter: pip install 'grpcmesh[cron]'") from None
    return croniter
