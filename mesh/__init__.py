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

import os

# gRPC core logs routine connection events (GOAWAY on a peer's clean stop) at INFO; keep them out of
# users' terminals unless they ask for them.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from ._call import AsyncResult as AsyncResult
from ._call import RemoteCall as RemoteCall
from ._global import Global as Global
from ._modifiers import BG as BG
from ._modifiers import BROADCAST as BROADCAST
from ._modifiers import FG as FG
from ._modifiers import NO_RETURN as NO_RETURN
from ._modifiers import PERIOD as PERIOD
from ._registry import callback as callback
from ._schedule import ScheduledCall as ScheduledCall
from ._security import TLSConfig as TLSConfig
from .errors import (
    AddressInUse as AddressInUse,
)
from .errors import (
    AuthenticationError as AuthenticationError,
)
from .errors import (
    BadArguments as BadArguments,
)
from .errors import (
    BroadcastError as BroadcastError,
)
from .errors import (
    CallCancelled as CallCancelled,
)
from .errors import (
    CallTimeout as CallTimeout,
)
from .errors import (
    ControllerUnavailable as ControllerUnavailable,
)
from .errors import (
    MeshError as MeshError,
)
from .errors import (
    NameTaken as NameTaken,
)
from .errors import (
    NodeStopped as NodeStopped,
)
from .errors import (
    PayloadTooLarge as PayloadTooLarge,
)
from .errors import (
    PeerUnavailable as PeerUnavailable,
)
from .errors import (
    RemoteError as RemoteError,
)
from .errors import (
    SerializationError as SerializationError,
)
from .errors import (
    TransportError as TransportError,
)
from .errors import (
    UnknownCallback as UnknownCallback,
)
from .errors import (
    UsageError as UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "BG",
    "BROADCAST",
    "FG",
    "NO_RETURN",
    "PERIOD",
    "AddressInUse",
    "AsyncResult",
    "AuthenticationError",
    "BadArguments",
    "BroadcastError",
    "CallCancelled",
    "CallTimeout",
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
    "TLSConfig",
    "TransportError",
    "UnknownCallback",
    "UsageError",
    "callback",
]
