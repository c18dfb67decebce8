"""How the kv service stores a value (pickle, dill for what pickle cannot write), and the checks of
what a caller hands it: a key is a ``str``, a ttl a positive number of seconds."""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterable, Mapping
from typing import Any

import dill

from mesh import SerializationError, UsageError

# The tag of a stored value: which of the two wrote it.
_PICKLE = b"p"
_DILL = b"d"


class _Missing:
    """The type of :data:`MISSING`; it pickles as the name, so the one instance crosses the mesh."""

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""``get``'s default when none is given: a missing key raises :class:`KeyError`."""


def encode(key: str, value: Any) -> bytes:
    """The stored form of ``value``.

    Raises:
        SerializationError: neither pickle nor dill can write it.
    """
    try:
        return _PICKLE + pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    try:
        written: bytes = dill.dumps(value, pickle.HIGHEST_PROTOCOL, recurse=True)
    except Exception as exc:
        raise SerializationError(
            f"kv: the value of key {key!r} ({type(value).__qualname__}) cannot be pickled ({exc})"
        ) from exc
    return _DILL + written


def check_encoded(key: str, data: object) -> bytes:
    """``data``, a value as :func:`encode` wrote it for ``key``.

    Raises:
        UsageError: it is not.
    """
    if not isinstance(data, bytes) or data[:1] not in (_PICKLE, _DILL):
        raise UsageError(f"kv.set_encoded: the value of key {key!r} is not one that KV encoded ({data!r:.40})")
    return data


def decode(data: bytes) -> Any:
    """The value that :func:`encode` stored as ``data``."""
    if data[:1] == _DILL:
        return dill.loads(data[1:])
    return pickle.loads(data[1:])


def check_key(key: object) -> str:
    """``key``, a ``str``.

    Raises:
        UsageError: it is not one.
    """
    if not isinstance(key, str):
        raise UsageError(f"kv keys are str, not {type(key).__qualname__} ({key!r})")
    return key


def check_list(given: object, what: str) -> list[Any]:
    """``given`` as a list: a list or tuple as it is, any other iterable (not a str or bytes) read out.

    Raises:
        UsageError: it is a str, bytes or not iterable.
    """
    if isinstance(given, list | tuple):
        return list(given)
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise UsageError(f"kv {what} are a list, not {type(given).__qualname__} ({given!r:.60})")
    return list(given)


def check_items(items: object) -> list[tuple[str, Any]]:
    """``set_many``'s items, a mapping or an iterable of ``(key, value)`` pairs, as a list of pairs.

    Raises:
        UsageError: they are neither, or a key is not a ``str``.
    """
    pairs = list(items.items()) if isinstance(items, Mapping) else check_list(items, "items")
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise UsageError(f"kv set_many takes a dict or (key, value) pairs, not {pair!r:.60}")
        check_key(pair[0])
    return [(key, value) for key, value in pairs]


def check_ttl(ttl: object) -> float | None:
    """``ttl`` in seconds (None: no expiry).

    Raises:
        UsageError: it is not a positive, finite number.
    """
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise UsageError(f"kv ttl is a positive number of seconds or None, not {ttl!r}")
    return float(ttl)


def check_amount(amount: object) -> int:
    """``incr``'s ``amount``, an ``int``.

    Raises:
        UsageError: it is not one.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise UsageError(f"kv incr adds an int, not {amount!r}")
    return amount
