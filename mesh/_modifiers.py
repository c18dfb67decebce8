"""The five call modifiers: how a remote call is made and what it returns.

Each is used as a class (``& FG``) or an instance with options (``& FG(timeout=3)``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import UsageError

__all__ = ["BG", "BROADCAST", "FG", "NO_RETURN", "PERIOD", "Modifier"]


def _check_timeout(value: float | None) -> None:
    if value is not None and (not isinstance(value, int | float) or not 0 < value < math.inf):
        raise UsageError(f"timeout must be a positive, finite number of seconds or None (no limit), not {value!r}")


def _check_eta(value: float) -> None:
    if not isinstance(value, int | float) or value < 0:
        raise UsageError(f"eta must be a number of seconds >= 0, not {value!r}")


class Modifier:
    """Base of the call modifiers."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class FG(Modifier):
    """Foreground: wait for the result and return it.

    Args:
        timeout: seconds to wait; past it :class:`~mesh.errors.CallTimeout` is raised and the callee
            is asked to cancel. None waits as long as the callee lives.
    """

    timeout: float | None = None

    def __post_init__(self) -> None:
        _check_timeout(self.timeout)


@dataclass(frozen=True, slots=True)
class BG(Modifier):
    """Background: return an :class:`~mesh.AsyncResult` at once.

    Args:
        timeout: seconds the call may take; past it the result is :class:`~mesh.errors.CallTimeout`.
        eta: seconds to wait before sending the call.
    """

    timeout: float | None = None
    eta: float = 0.0

    def __post_init__(self) -> None:
        _check_timeout(self.timeout)
        _check_eta(self.eta)


@dataclass(frozen=True, slots=True)
class NO_RETURN(Modifier):  # noqa: N801 - daffi's name
    """Fire and forget: send the call and return None; its result and errors are not reported back.

    Args:
        eta: seconds to wait before sending the call.
    """

    eta: float = 0.0

    def __post_init__(self) -> None:
        _check_eta(self.eta)


@dataclass(frozen=True, slots=True)
class PERIOD(Modifier):
    """Run the callback at given times, or every ``period`` seconds, on the node that offers it.

    The schedule is kept by the callee's node; it ends on :meth:`~mesh.ScheduledCall.cancel`, when
    its times are used up, or when the calling node leaves. Returns a :class:`~mesh.ScheduledCall`.

    Args:
        at_time: one UTC timestamp (``time.time()`` scale) or a list of them, all in the future.
        period: seconds between runs; the first run is one period from now.

    Exactly one of ``at_time`` and ``period`` is given.
    """

    at_time: float | Sequence[float] | None = None
    period: float | None = None
    times: tuple[float, ...] = field(init=False, default=(), repr=False)

    def __post_init__(self) -> None:
        if (self.at_time is None) == (self.period is None):
            raise UsageError("PERIOD takes either at_time or period, not both and not neither")
        if self.period is not None and (not isinstance(self.period, int | float) or self.period <= 0):
            raise UsageError(f"PERIOD period must be a positive number of seconds, not {self.period!r}")
        if self.at_time is not None:
            times = (self.at_time,) if isinstance(self.at_time, int | float) else tuple(self.at_time)
            if not times:
                raise UsageError("PERIOD at_time must name at least one timestamp")
            now = time.time()
            for stamp in times:
                if not isinstance(stamp, int | float):
                    raise UsageError(f"PERIOD at_time holds {stamp!r}, which is not a timestamp")
                if stamp <= now:
                    raise UsageError(
                        f"PERIOD at_time {stamp} is in the past (now is {now:.3f}); "
                        "give UTC timestamps in the future, such as time.time() + 5"
                    )
            object.__setattr__(self, "times", tuple(float(t) for t in times))


@dataclass(frozen=True, slots=True)
class BROADCAST(Modifier):
    """Call every node that offers the callback.

    With ``return_result=True`` wait and return ``{node_name: result}``; if any node fails,
    :class:`~mesh.errors.BroadcastError` carries both the results and the errors. Without it, send
    to all and return None.

    Args:
        timeout: seconds each node may take.
        eta: seconds to wait before sending.
        return_result: wait for and return the results.
    """

    timeout: float | None = None
    eta: float = 0.0
    return_result: bool = False

    def __post_init__(self) -> None:
        _check_timeout(self.timeout)
        _check_eta(self.eta)
