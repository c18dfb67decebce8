"""grpcmesh: a peer-to-peer RPC mesh for Python over gRPC.

::

    from mesh import Global, callback, FG, BG, NO_RETURN, PERIOD, BROADCAST

    @callback
    def add(a: int, b: int) -> int:
        return a + b

    g = Global(process_name="worker-1", init_controller=True)
    print(g.call.add(1, 2) & FG)
"""

from __future__ import annotations

# First of all: gRPC core reads its settings from the environment once, as grpc is first imported.
from . import _grpc_env  # noqa: F401
from .api._call import RemoteCall
from .api._global import Global
from .api._modifiers import BG, BROADCAST, FG, NO_RETURN, PERIOD, STREAM
from .api._stream import Stream, stream
from .errors import (
    AddressInUse,
    AuthenticationError,
    BadArguments,
    BroadcastError,
    CallCancelled,
    CallTimeout,
    ControllerUnavailable,
    MeshError,
    NameTaken,
    NodeStopped,
    PayloadTooLarge,
    PeerUnavailable,
    RemoteError,
    SerializationError,
    TransportError,
    UnknownCallback,
    UsageError,
)
from .node._caller import Caller, current_caller
from .node._flow import Batch
from .node._logs import configure_logging
from .node._registry import callback
from .node._reply import AsyncResult
from .node._schedule import ScheduledCall
from .node._streams import Streamed
from .wire._security import TLSConfig
from .wire._tracing import disable_tracing, enable_tracing

__version__ = "0.1.0"

__all__ = [
    "BG",
    "BROADCAST",
    "FG",
    "NO_RETURN",
    "PERIOD",
    "STREAM",
    "AddressInUse",
    "AsyncResult",
    "AuthenticationError",
    "BadArguments",
    "Batch",
    "BroadcastError",
    "CallCancelled",
    "CallTimeout",
    "Caller",
    "ControllerUnavailable",
    "Global",
    "MeshError",
    "NameTaken",
    "NodeStopped",
    "PayloadTooLarge",
    "PeerUnavailable",
    "RemoteCall",
    "RemoteError",
    "ScheduledCall",
    "SerializationError",
    "Stream",
    "Streamed",
    "TLSConfig",
    "TransportError",
    "UnknownCallback",
    "UsageError",
    "callback",
    "configure_logging",
    "current_caller",
    "disable_tracing",
    "enable_tracing",
    "stream",
]
