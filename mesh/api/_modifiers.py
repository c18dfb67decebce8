"""The six call modifiers: how a remote call is made and what it returns.

Each is used as a class (``& FG``) or an instance with options (``& FG(timeout=3)``). Each but
BROADCAST takes ``receiver``, the name of the node to call (daffi 2.x's keyword); BROADCAST takes
``receivers``, the nodes to call among those that offer the callback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import UsageError
from ..node._caller import Caller
from ..node._flow import DEFAULT_WINDOW, DEFAULT_WINDOW_BYTES
from . import _times
from ._receivers import receiver_name, receiver_names
from ._times import Duration, Moment, Until

__all__ = ["BG", "BROADCAST", "FG", "NO_RETURN", "PERIOD", "STREAM", "Modifier"]


class Modifier:
    """Base of the call modifiers."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class FG(Modifier):
    """Foreground: wait for the result and return it.

    Args:
        timeout: seconds to wait; past it :class:`~mesh.errors.CallTimeout` is raised and the callee
            is asked to cancel. None waits as long as the callee lives.
        receiver: the name of the node to call; without it, the node offering the callback with the
            fewest calls in flight on its link.
        answer: a :class:`~mesh.Caller` (from :func:`~mesh.current_caller`, in the callback that makes
            this call): the callee's node also sends its value straight to that caller, as the answer of
            the call this callback serves, one message sooner than this callback's own answer. The
            callback must then answer with that same value; an error goes only to this call.

    Every time option takes a number of seconds, a ``timedelta``, a string such as ``"5s"``,
    ``"1m30s"``, ``"500ms"`` or ``"2h"``, or a ``datetime`` (the time left until it when the modifier
    is made; a naive one is local time).
    """

    timeout: float | None = None
    receiver: str | None = None
    answer: Caller | None = None

    def __init__(self, timeout: Until | None = None, receiver: str | None = None, answer: Caller | None = None) -> None:
        object.__setattr__(self, "timeout", _times.timeout(timeout))
        object.__setattr__(self, "receiver", receiver_name(receiver, "FG"))
        if answer is not None and not isinstance(answer, Caller):
            raise UsageError(f"FG answer= takes the Caller that current_caller() returns, not {type(answer).__name__}")
        object.__setattr__(self, "answer", answer)


@dataclass(frozen=True, slots=True)
class BG(Modifier):
    """Background: return an :class:`~mesh.AsyncResult` at once.

    Args:
        timeout: seconds the call may take; past it the result is :class:`~mesh.errors.CallTimeout`.
        eta: seconds to wait before sending the call.
        receiver: the name of the node to call (see :class:`FG`).
        return_result: False makes the call fire and forget, as :class:`NO_RETURN` (daffi 2.x's
            spelling): it returns None and its result and errors are not reported back.
    """

    timeout: float | None = None
    eta: float = 0.0
    receiver: str | None = None
    return_result: bool = True

    def __init__(
        self, timeout: Until | None = None, eta: Until = 0.0, receiver: str | None = None, return_result: bool = True
    ) -> None:
        object.__setattr__(self, "timeout", _times.timeout(timeout))
        object.__setattr__(self, "eta", _times.eta(eta))
        object.__setattr__(self, "receiver", receiver_name(receiver, "BG"))
        object.__setattr__(self, "return_result", _flag(return_result, "BG return_result"))


@dataclass(frozen=True, slots=True)
class NO_RETURN(Modifier):  # noqa: N801 - daffi's name
    """Fire and forget: send the call and return None; its result and errors are not reported back.

    Args:
        eta: seconds to wait before sending the call.
        receiver: the name of the node to call (see :class:`FG`).
    """

    eta: float = 0.0
    receiver: str | None = None

    def __init__(self, eta: Until = 0.0, receiver: str | None = None) -> None:
        object.__setattr__(self, "eta", _times.eta(eta))
        object.__setattr__(self, "receiver", receiver_name(receiver, "NO_RETURN"))


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
        receiver: the name of the node to run it (see :class:`FG`).

    Exactly one of ``at_time`` and ``period`` is given.
    """

    at_time: Moment | Sequence[Moment] | None = None
    period: float | None = None
    receiver: str | None = None
    times: tuple[float, ...] = field(default=(), repr=False)

    def __init__(
        self,
        at_time: Moment | Sequence[Moment] | None = None,
        period: Duration | None = None,
        receiver: str | None = None,
    ) -> None:
        if (at_time is None) == (period is None):
            raise UsageError("PERIOD takes either at_time or period, not both and not neither")
        object.__setattr__(self, "receiver", receiver_name(receiver, "PERIOD"))
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
        receivers: the names of the nodes to call, each of which must offer the callback; None
            calls every node that offers it.
    """

    timeout: float | None = None
    eta: float = 0.0
    return_result: bool = False
    receivers: tuple[str, ...] | None = None

    def __init__(
        self,
        timeout: Until | None = None,
        eta: Until = 0.0,
        return_result: bool = False,
        receivers: Sequence[str] | None = None,
    ) -> None:
        object.__setattr__(self, "timeout", _times.timeout(timeout))
        object.__setattr__(self, "eta", _times.eta(eta))
        object.__setattr__(self, "return_result", _flag(return_result, "BROADCAST return_result"))
        object.__setattr__(self, "receivers", receiver_names(receivers, "BROADCAST"))


@dataclass(frozen=True, slots=True)
class STREAM(Modifier):
    """Take the callback's items as it yields them: returns a :class:`~mesh.Stream` at once, to
    iterate with ``for`` (sync code) or ``async for`` (async code).

    The callback is a generator or async generator (or returns an iterable). It runs at most
    ``window`` items, and ``window_bytes`` encoded bytes, ahead of what the caller has taken.

    Args:
        timeout: seconds to wait for each item; past it :class:`~mesh.errors.CallTimeout` is raised
            and the callee's generator is closed. None waits as long as the callee lives.
        receiver: the name of the node to call (see :class:`FG`).
        window: items the callee may send ahead of the caller.
        window_bytes: encoded bytes the callee may send ahead of the caller (an item larger than
            this is still sent, alone).
    """

    timeout: float | None = None
    receiver: str | None = None
    window: int = DEFAULT_WINDOW
    window_bytes: int = DEFAULT_WINDOW_BYTES

    def __init__(
        self,
        timeout: Until | None = None,
        receiver: str | None = None,
        window: int = DEFAULT_WINDOW,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
    ) -> None:
        object.__setattr__(self, "timeout", _times.timeout(timeout))
        object.__setattr__(self, "receiver", receiver_name(receiver, "STREAM"))
        object.__setattr__(self, "window", positive_count(window, "STREAM window"))
        object.__setattr__(self, "window_bytes", positive_count(window_bytes, "STREAM window_bytes"))


def positive_count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{what} must be a positive whole number, not {value!r}")
    return value


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{what} must be True or False, not {value!r}")
    return value
