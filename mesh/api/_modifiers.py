"""The five call modifiers: how a remote call is made and what it returns.

Each is used as a class (``& FG``) or an instance with options (``& FG(timeout=3)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import UsageError
from . import _times
from ._times import Duration, Moment, Until

__all__ = ["BG", "BROADCAST", "FG", "NO_RETURN", "PERIOD", "Modifier"]


class Modifier:
    """Base of the call modifiers."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class FG(Modifier):
    """Foreground: wait for the result and return it.

    Args:
        timeout: seconds to wait; past it :class:`~mesh.errors.CallTimeout` is raised and the callee
            is asked to cancel. None waits as long as the callee lives.

    Every time option takes a number of seconds, a ``timedelta``, a string such as ``"5s"``,
    ``"1m30s"``, ``"500ms"`` or ``"2h"``, or a ``datetime`` (the time left until it when the modifier
    is made; a naive one is local time).
    """

    timeout: float | None = None

    def __init__(self, timeout: Until | None = None) -> None:
        object.__setattr__(self, "timeout", _times.timeout(timeout))


@dataclass(frozen=True, slots=True)
class BG(Modifier):
    """Background: return an :class:`~mesh.AsyncResult` at once.

    Args:
        timeout: seconds the call may take; past it the result is :class:`~mesh.errors.CallTimeout`.
        eta: seconds to wait before sending the call.
    """

    timeout: float | None = None
    eta: float = 0.0

    def __init__(self, timeout: Until | None = None, eta: Until = 0.0) -> None:
        object.__setattr__(self, "timeout", _times.timeout(timeout))
        object.__setattr__(self, "eta", _times.eta(eta))


@dataclass(frozen=True, slots=True)
class NO_RETURN(Modifier):  # noqa: N801 - daffi's name
    """Fire and forget: send the call and return None; its result and errors are not reported back.

    Args:
        eta: seconds to wait before sending the call.
    """

    eta: float = 0.0

    def __init__(self, eta: Until = 0.0) -> None:
        object.__setattr__(self, "eta", _times.eta(eta))


@dataclass(frozen=True, slots=True)
class PERIOD(Modifier):
    """Run the callback at given times, or every ``period`` seconds, on the node that offers it.

    The schedule is kept by the callee's node; it ends on :meth:`~mesh.ScheduledCall.cancel`, when
    its times are used up, or when the calling node leaves. Returns a :class:`~mesh.ScheduledCall`.

    Args:
        at_time: one moment or a list of them, all in the future: a UTC timestamp (``time.time()``
            scale, such as ``time.time() + 3``), a ``datetime`` (a naive one is local time), or a
            duration from now (``timedelta``, ``"5s"``).
        period: seconds between runs (or a ``timedelta``, or a string such as ``"1m"``); the first
            run is one period from now.

    Exactly one of ``at_time`` and ``period`` is given.
    """

    at_time: Moment | Sequence[Moment] | None = None
    period: float | None = None
    times: tuple[float, ...] = field(default=(), repr=False)

    def __init__(self, at_time: Moment | Sequence[Moment] | None = None, period: Duration | None = None) -> None:
        if (at_time is None) == (period is None):
            raise UsageError("PERIOD takes either at_time or period, not both and not neither")
        object.__setattr__(self, "at_time", at_time)
        object.__setattr__(self, "period", None if period is None else _times.period(period))
        if at_time is not None:
            moments: list[Moment] = (
                list(at_time) if isinstance(at_time, Sequence) and not isinstance(at_time, str) else [at_time]
            )
            if not moments:
                raise UsageError("PERIOD at_time must name at least one moment")
            object.__setattr__(self, "times", tuple(_times.moment(m, "PERIOD at_time") for m in moments))
        else:
            object.__setattr__(self, "times", ())


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

    def __init__(self, timeout: Until | None = None, eta: Until = 0.0, return_result: bool = False) -> None:
        object.__setattr__(self, "timeout", _times.timeout(timeout))
        object.__setattr__(self, "eta", _times.eta(eta))
        object.__setattr__(self, "return_result", return_result)
