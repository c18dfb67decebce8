"""Turning Python values into wire bytes and back.

Plain pickle (protocol 5) is tried first because it is several times faster than dill; dill takes
over for what pickle cannot write (lambdas, closures, functions and classes of ``__main__``). Large
``bytes``, ``bytearray`` and ``memoryview`` values travel as out-of-band buffers, so they are not
copied into the pickle stream.
"""

from __future__ import annotations

import enum
import pickle
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import dill

from ..errors import PayloadTooLarge, SerializationError

if TYPE_CHECKING:
    from ._tracing import ClientTrace

PROTOCOL = 5
OUT_OF_BAND_MIN = 64 * 1024
_MAIN_MARKER = b"__main__"
# The buffers of a value that has none: shared, so that an encoded call keeps no list alive.
NO_BUFFERS: tuple[()] = ()


class _OutOfBandBytes:
    """Pickles a large ``bytes`` object as an out-of-band buffer that loads back as ``bytes``."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (bytes, (pickle.PickleBuffer(self.data),))


@dataclass(slots=True)
class Encoded:
    """An encoded value: the pickle stream, its out-of-band buffers, and whether dill wrote it."""

    data: bytes
    buffers: Sequence[pickle.PickleBuffer]
    dill: bool
    size: int
    # The streamed arguments (mesh.node._streams.Streamed) it refers to, by slot: slot k is streams[k - 1].
    streams: Sequence[Any] = ()
    # The CLIENT span of the call these arguments are sent with, when tracing is on (mesh.wire._tracing).
    trace: ClientTrace | None = None


class Here(enum.Enum):
    """The type of :data:`RUN_HERE`."""

    RUN_HERE = "run here"


# In place of a call's encoded arguments: the node chosen for the call is this one, so the arguments
# were not encoded and the call runs here.
RUN_HERE: Final = Here.RUN_HERE
# A call's arguments as they are handed on: encoded for a peer, or RUN_HERE.
Outgoing: TypeAlias = Encoded | Here


def wrap_large_bytes(value: Any) -> Any:
    """Mark a top-level large ``bytes`` value to travel out of band."""
    if type(value) is bytes and len(value) >= OUT_OF_BAND_MIN:
        return _OutOfBandBytes(value)
    return value


def wrap_large_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` with each large ``bytes`` marked as by :func:`wrap_large_bytes`; ``args`` itself when none is."""
    for arg in args:
        if type(arg) is bytes and len(arg) >= OUT_OF_BAND_MIN:
            return tuple([wrap_large_bytes(a) for a in args])
    return args


def encode_args(args: tuple[Any, ...], kwargs: dict[str, Any], max_size: int, callback: str) -> Encoded:
    """Pickle a call's ``(args, kwargs)`` (as :func:`encode` does, large ``bytes`` out of band).

    A call without arguments (a ping, a tick) gets :data:`NO_ARGS`, pickled once: pickling
    ``((), {})`` on every call would be a good part of a caller's CPU per NO_RETURN call
    (bench/README.md has the figure).
    """
    if not args and not kwargs:
        return NO_ARGS
    found: list[object] = []
    _streamed.found = found
    try:
        encoded = encode((wrap_large_args(args), kwargs), max_size, "arguments", callback)
    finally:
        _streamed.found = None
    if found:
        encoded.streams = tuple(found)
    return encoded


# The streamed arguments met while this thread encodes a call's arguments (None: it encodes none).
_streamed = threading.local()


def streamed_slot(streamed: object) -> int:
    """The slot (1, 2, ...) of a streamed argument of the call whose arguments are being encoded;
    called as it is pickled.

    Raises:
        SerializationError: no call's arguments are being encoded (it is in a result, say).
    """
    found: list[object] | None = getattr(_streamed, "found", None)
    if found is None:
        raise SerializationError("a stream(...) can only be an argument of a call, not part of a result or item")
    for slot, each in enumerate(found, 1):
        if each is streamed:
            return slot
    found.append(streamed)
    return len(found)


def decode_args(data: bytes, buffers: Any, used_dill: bool, callback: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Load the ``(args, kwargs)`` written by :func:`encode_args`.

    Raises:
        SerializationError: they cannot be loaded here.
    """
    if data == NO_ARGS.data:
        return (), {}
    args, kwargs = decode(data, buffers, used_dill, "arguments", callback)
    return args, kwargs


def describe(what: str, callback: str = "", peer: str = "") -> str:
    """Name a value in an error: "arguments of callback 'f' from 'node'". Only called on failure, so
    the per-call path formats no strings."""
    text = what
    if callback:
        text += f" of callback {callback!r}"
    if peer:
        text += f" from {peer!r}"
    return text


def encode(value: Any, max_size: int, what: str, callback: str = "") -> Encoded:
    """Pickle ``value``; ``what`` and ``callback`` name it in errors (see :func:`describe`).

    Raises:
        SerializationError: neither pickle nor dill can write the value.
        PayloadTooLarge: the encoded value is larger than ``max_size`` bytes.
    """
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = pickle.dumps(value, PROTOCOL, buffer_callback=buffers.append)
    except Exception:
        return _encode_with_dill(value, max_size, what, callback)
    # It refers to __main__, which the peer does not share. (find, not ``in``: ``in`` on bytes first
    # tries its operand as an integer and formats a TypeError, on every call.)
    if data.find(_MAIN_MARKER) >= 0:
        return _encode_with_dill(value, max_size, what, callback)
    return _encoded(data, buffers, False, max_size, what, callback)


def _encode_with_dill(value: Any, max_size: int, what: str, callback: str) -> Encoded:
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = dill.dumps(value, PROTOCOL, recurse=True, buffer_callback=buffers.append)
    except Exception as exc:
        culprit = _find_unpicklable(value)
        raise SerializationError(
            f"cannot encode {describe(what, callback)}: {type(culprit).__qualname__} object "
            f"{_short_repr(culprit)} cannot be pickled ({exc})"
        ) from exc
    return _encoded(data, buffers, True, max_size, what, callback)


def _encoded(
    data: bytes, buffers: list[pickle.PickleBuffer], used_dill: bool, max_size: int, what: str, callback: str
) -> Encoded:
    size = len(data)
    if buffers:
        size += sum(buffer.raw().nbytes for buffer in buffers)
    if size > max_size:
        raise PayloadTooLarge(
            f"cannot send {describe(what, callback)}: encoded size {size} bytes is over the limit of {max_size} "
            "bytes; raise max_message_size on every node, or send the data through storage"
        )
    return Encoded(data, buffers or NO_BUFFERS, used_dill, size)


def decode(data: bytes, buffers: Any, used_dill: bool, what: str, callback: str = "", peer: str = "") -> Any:
    """Load a value written by :func:`encode`.

    Raises:
        SerializationError: the value cannot be loaded here (a missing module or class, ...).
    """
    try:
        if used_dill:
            return dill.loads(data, buffers=buffers)
        return pickle.loads(data, buffers=buffers)
    except Exception as exc:
        raise SerializationError(
            f"cannot decode {describe(what, callback, peer)}: {type(exc).__name__}: {exc}"
        ) from exc


def _find_unpicklable(value: Any) -> Any:
    """Return the innermost part of an argument tuple or container that dill cannot write."""
    parts: list[Any] = []
    if isinstance(value, tuple | list | set | frozenset):
        parts = list(value)
    elif isinstance(value, dict):
        parts = list(value.values())
    for part in parts:
        try:
            dill.dumps(part, PROTOCOL, recurse=True)
        except Exception:
            return _find_unpicklable(part)
    return value


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# The arguments of a call that has none. Shared by every such call: nothing mutates an Encoded.
NO_ARGS = encode(((), {}), 2**31, "arguments")
