"""Running one incoming call: decode its arguments, run the callback, encode the outcome.

The outcome is an :class:`Encoded` result or a ``pb.Error`` reply; nothing here raises, so a sync call
can run entirely in a worker thread and hand back only bytes ready to send.
"""

from __future__ import annotations

from typing import Any

from ._codec import Encoded, decode_args, encode, wrap_large_bytes
from ._outcome import error_reply, exception_reply
from ._proto import mesh_pb2 as pb
from ._registry import LocalCallback
from ._wire import Buffers
from .errors import SerializationError


def serve_sync(
    callback: LocalCallback, data: bytes, dill: bool, buffers: Buffers, max_size: int | None
) -> Encoded | pb.Error | None:
    """Run a sync callback for a call's pickled arguments ``data`` (by dill if ``dill``) and their
    out-of-band ``buffers``, in whatever thread calls this.

    ``max_size`` bounds the encoded result; None means nobody waits for it (NO_RETURN): it is not
    encoded, and only a failure is returned.
    """
    try:
        args, kwargs = decode_args(data, buffers, dill, callback.name)
    except SerializationError as exc:
        return exception_reply(exc)
    try:
        value = callback.fn(*args, **kwargs)
    except TypeError as exc:
        return _type_error_reply(callback, exc, args, kwargs)
    except Exception as exc:
        return exception_reply(exc)
    return _encode_result(callback, value, max_size)


async def serve_async(
    callback: LocalCallback, data: bytes, dill: bool, buffers: Buffers, max_size: int | None
) -> Encoded | pb.Error | None:
    """Run an async callback on the running loop; the rest as for :func:`serve_sync`."""
    try:
        args, kwargs = decode_args(data, buffers, dill, callback.name)
    except SerializationError as exc:
        return exception_reply(exc)
    try:
        value = await callback.fn(*args, **kwargs)
    except TypeError as exc:
        return _type_error_reply(callback, exc, args, kwargs)
    except Exception as exc:
        return exception_reply(exc)
    return _encode_result(callback, value, max_size)


def _type_error_reply(
    callback: LocalCallback, exc: TypeError, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> pb.Error:
    """A TypeError from arguments that do not fit the signature is BadArguments; others are the callback's."""
    problem = callback.arguments_error(args, kwargs)
    if problem is not None:
        return error_reply(pb.ERROR_KIND_BAD_ARGUMENTS, problem)
    return exception_reply(exc)


def _encode_result(callback: LocalCallback, value: Any, max_size: int | None) -> Encoded | pb.Error | None:
    if max_size is None:
        return None
    try:
        return encode(wrap_large_bytes(value), max_size, "result", callback.name)
    except SerializationError as exc:
        return exception_reply(exc)
