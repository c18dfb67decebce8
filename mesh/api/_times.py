"""Times the modifiers take: seconds as a number, a ``timedelta`` or a string ("5s", "1m30s", "500ms"),
and moments as a UTC timestamp (``time.time()`` scale) or a ``datetime``.

A naive ``datetime`` is local time, as ``datetime.timestamp()`` reads it. That is the trap of
``datetime.utcnow()``: its naive value, or its ``.timestamp()``, is off by the machine's UTC offset
(in Tokyo 9 h in the past, in New York 5 h in the future). A moment in the past is refused with an
error that says so; one that lies exactly the UTC offset (give or take ten minutes) in the future
warns.
"""

from __future__ import annotations

import math
import re
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from typing import TypeAlias

from ..errors import UsageError

# A span of time: seconds, a timedelta, or a string such as "5s".
Duration: TypeAlias = float | timedelta | str
# A deadline or a start: a Duration from now, or a moment (a datetime).
Until: TypeAlias = float | timedelta | str | datetime
# A moment: a UTC timestamp, a datetime, or a Duration from now.
Moment: TypeAlias = float | datetime | timedelta | str

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_STRING = re.compile(r"(?:\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d))+\s*", re.IGNORECASE)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
# How far past "now + the UTC offset" a moment may lie and still look like utcnow()'s mistake.
_PITFALL_SLACK = 600.0

FORMS = "a number of seconds, a timedelta, a datetime, or a string such as '5s', '1m30s', '500ms', '2h'"
IDIOM = "time.time() + 3, or datetime.now(timezone.utc) + timedelta(seconds=3)"


def timeout(value: Until | None) -> float | None:
    """A call's timeout in seconds (None: no limit)."""
    if value is None:
        return None
    seconds = _seconds(value, "timeout")
    if seconds is None or not 0 < seconds < math.inf:
        raise UsageError(f"timeout must be positive and finite: {FORMS}; or None for no limit; not {value!r}")
    return seconds


def eta(value: Until) -> float:
    """Seconds to wait before sending a call."""
    seconds = _seconds(value, "eta")
    if seconds is None or not 0 <= seconds < math.inf:
        raise UsageError(f"eta must be >= 0 and finite: {FORMS}; not {value!r}")
    return seconds


def period(value: Duration) -> float:
    """Seconds between the runs of a PERIOD."""
    seconds = None if isinstance(value, datetime) else _seconds(value, "period")
    if seconds is None or not 0 < seconds < math.inf:
        raise UsageError(
            f"PERIOD period must be a positive, finite number of seconds, a timedelta or a string such as "
            f"'5s'; not {value!r}"
        )
    return seconds


def moment(value: Moment, what: str) -> float:
    """The UTC timestamp of ``value``, which must be in the future."""
    now = time.time()
    if isinstance(value, datetime):
        stamp, naive = value.timestamp(), value.tzinfo is None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        stamp, naive = float(value), True
    else:
        span = _seconds(value, what)
        if span is None:
            raise UsageError(f"{what} holds {value!r}, which is not a timestamp, a datetime or a duration")
        stamp, naive = now + span, False
    _check_future(stamp, now, what, naive)
    return stamp


def _seconds(value: object, what: str) -> float | None:
    """``value`` in seconds (a datetime: the seconds until it), or None when it is no time at all."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        if not _STRING.fullmatch(value):
            raise UsageError(f"{what} {value!r} is not a duration: {FORMS}")
        return sum(float(number) * _UNITS[unit.lower()] for number, unit in _PART.findall(value))
    if isinstance(value, datetime):
        now = time.time()
        stamp = value.timestamp()
        _check_future(stamp, now, what, value.tzinfo is None)
        return stamp - now
    return None


def _check_future(stamp: float, now: float, what: str, naive: bool) -> None:
    """Refuse a moment in the past; warn of one that looks like ``datetime.utcnow()``'s offset."""
    if stamp <= now:
        raise UsageError(
            f"{what} {_shown(stamp)} is {now - stamp:.1f} s in the past (now is {_shown(now)}). {_pitfall()} "
            f"Use {IDIOM}."
        )
    offset = _utc_offset()
    if naive and offset < 0 and 0 <= (stamp - now) + offset <= _PITFALL_SLACK:
        warnings.warn(
            f"{what} {_shown(stamp)} is {(stamp - now) / 3600:.2f} h from now, which is this machine's UTC offset "
            f"({_offset_text(offset)}) away. {_pitfall()} If you meant a moment that soon, use {IDIOM}.",
            RuntimeWarning,
            stacklevel=_caller_level(),
        )


def _pitfall() -> str:
    offset = _utc_offset()
    where = "this machine's UTC offset, " + _offset_text(offset)
    if not offset:
        where = f"the UTC offset of a machine outside UTC (this one's is {_offset_text(offset)})"
    return (
        "If it came from datetime.utcnow() (its .timestamp(), or the naive datetime itself), it is off by "
        f"{where}: utcnow() gives a naive datetime, and naive datetimes are read as local time."
    )


def _utc_offset() -> float:
    """This machine's UTC offset now, in seconds (Tokyo +32400, New York -18000 in winter)."""
    offset = datetime.now().astimezone().utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _offset_text(offset: float) -> str:
    sign = "-" if offset < 0 else "+"
    minutes = int(abs(offset)) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _shown(stamp: float) -> str:
    return f"{stamp:.3f} ({datetime.fromtimestamp(stamp, timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside mesh: the line that made the modifier."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("mesh."):
        frame = frame.f_back
        level += 1
    return level
