"""How a callback's outcome becomes a reply on the callee, and a value or an exception on the caller."""

from __future__ import annotations

import pickle
import traceback
from typing import Any

import dill

from ..errors import (
    BadArguments,
    MeshError,
    PayloadTooLarge,
    PeerUnavailable,
    RemoteError,
    SerializationError,
    UnknownCallback,
)
from ._codec import PROTOCOL, decode
from ._frames import Reply
from ._proto import mesh_pb2 as pb


def error_reply(kind: int, message: str) -> pb.Error:
    """A reply for a failure of the mesh itself (not of the callback)."""
    return pb.Error(kind=kind, type="", message=message)  # type: ignore[arg-type]


def exception_reply(exc: BaseException) -> pb.Error:
    """A reply carrying the exception a callback raised, pickled when possible."""
    kind = pb.ERROR_KIND_REMOTE
    if isinstance(exc, PayloadTooLarge):
        kind = pb.ERROR_KIND_PAYLOAD_TOO_LARGE
    elif isinstance(exc, SerializationError):
        kind = pb.ERROR_KIND_SERIALIZATION
    try:
        pickled = pickle.dumps(exc, PROTOCOL)
    except Exception:
        try:
            pickled = dill.dumps(exc, PROTOCOL)
        except Exception:
            pickled = b""
    return pb.Error(
        kind=kind,
        type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        pickled=pickled,
    )


def value_of(reply: Reply, callback: str, peer: str) -> Any:
    """The value a reply (its body and the result's out-of-band buffers) carries, or raise its error."""
    body, buffers = reply
    if isinstance(body, pb.Result):
        return decode(body.value, buffers, body.dill, "result", callback, peer)
    raise exception_of(body, callback, peer)


def exception_of(error: pb.Error, callback: str, peer: str) -> BaseException:
    """Rebuild the exception an error reply describes."""
    kind = error.kind
    if kind == pb.ERROR_KIND_UNKNOWN_CALLBACK:
        return UnknownCallback(callback, f"node {peer!r} does not offer it")
    if kind == pb.ERROR_KIND_BAD_ARGUMENTS:
        return BadArguments(error.message)
    if kind == pb.ERROR_KIND_PAYLOAD_TOO_LARGE:
        return PayloadTooLarge(f"node {peer!r}: {error.message}")
    if kind == pb.ERROR_KIND_SERIALIZATION:
        return SerializationError(f"node {peer!r}: {error.message}")
    if kind == pb.ERROR_KIND_STOPPING:
        return PeerUnavailable(peer, error.message)
    if kind != pb.ERROR_KIND_REMOTE:
        return MeshError(f"node {peer!r}: {error.message}")
    if error.pickled:
        try:
            exc = dill.loads(error.pickled)
        except Exception:
            exc = None
        if isinstance(exc, BaseException):
            note = f"Remote traceback (callback {callback!r} on node {peer!r}):\n{error.traceback}"
            if hasattr(exc, "add_note"):
                exc.add_note(note)
            exc.remote_traceback = error.traceback  # type: ignore[attr-defined]
            return exc
    return RemoteError(error.type, error.message, error.traceback)
