"""The options of a submission, checked where they are given (the client) and where they are kept (the
service), with errors that name the option."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from mesh import UsageError


def seconds(option: str, value: Any, *, allow_zero: bool = True) -> float:
    """``value`` (a number of seconds or a ``timedelta``) as a float; ``UsageError`` naming ``option`` otherwise."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise UsageError(f"{option} must be a number of seconds or a timedelta, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{option} must be {'0 or more' if allow_zero else 'more than 0'} seconds, not {value!r}")
    return float(value)


def moment(eta: Any) -> float:
    """The time (``time.time()`` scale) ``eta`` names: seconds or a ``timedelta`` from now, or a ``datetime``
    (a naive one is local time); now when None."""
    if eta is None:
        return time.time()
    if isinstance(eta, datetime):
        return eta.timestamp()
    return time.time() + seconds("eta", eta)


def check_submission(name: Any, retries: Any, backoff: Any, timeout: Any, key: Any) -> None:
    """Raise ``UsageError`` naming the first option of a submission that cannot work."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"a job's name is the name of a callback (a non-empty str), not {name!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise UsageError(f"retries must be an int of 0 or more, not {retries!r}")
    seconds("backoff", backoff)
    if timeout is not None:
        seconds("timeout", timeout, allow_zero=False)
    if key is not None and (not isinstance(key, str) or not key):
        raise UsageError(f"key must be a non-empty str (an idempotency key), not {key!r}")
