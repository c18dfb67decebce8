"""Every error grpcmesh raises, in one hierarchy.

::

    MeshError
    ├── UsageError                 you used the API wrongly (also a ValueError)
    │   └── BadArguments           arguments do not fit the callback's signature (also a TypeError)
    ├── UnknownCallback            no node (or not the named receiver) offers that callback (also a LookupError)
    ├── SerializationError         a value could not be pickled or unpickled
    │   └── PayloadTooLarge        an encoded value is over the size limit
    ├── TransportError             the link between nodes failed
    │   ├── PeerUnavailable        the peer left, died or cannot be reached
    │   ├── ControllerUnavailable  the controller cannot be reached
    │   ├── AddressInUse           another process already listens on the address to serve on
    │   └── AuthenticationError    a peer or the controller refused our proof, or we refused theirs
    ├── CallTimeout                the call did not finish in time (also a TimeoutError)
    ├── CallCancelled              the call was cancelled before it finished
    ├── NodeStopped                the node is stopping or stopped
    ├── NameTaken                  another live node already has this process name
    ├── RemoteError                the callback raised an exception that cannot be rebuilt here
    └── BroadcastError             some nodes of a BROADCAST failed

A callback that raises an exception whose type unpickles on the caller is re-raised there as its own
type, with the remote traceback text attached as ``__notes__``; other exceptions arrive as
:class:`RemoteError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "AddressInUse",
    "AuthenticationError",
    "BadArguments",
    "BroadcastError",
    "CallCancelled",
    "CallTimeout",
    "ControllerUnavailable",
    "MeshError",
    "NameTaken",
    "NodeStopped",
    "PayloadTooLarge",
    "PeerUnavailable",
    "RemoteError",
    "SerializationError",
    "TransportError",
    "UnknownCallback",
    "UsageError",
]


class MeshError(Exception):
    """Base class of every error grpcmesh raises."""


class UsageError(MeshError, ValueError):
    """The API was used wrongly: a bad modifier argument, a sync call on the node's loop, ..."""


class BadArguments(UsageError, TypeError):
    """The arguments of a call do not fit the callback's signature."""


class UnknownCallback(MeshError, LookupError):
    """No node of the mesh offers a callback of that name; or, for a call with a ``receiver``, that node
    is not in the mesh (``absent``) or does not offer it.

    Attributes:
        name: the name called.
        receiver: the node named by the call's ``receiver`` ("" when it named none).
        suggestions: offered names close to it (at most three, closest first).
    """

    def __init__(
        self, name: str, detail: str = "", offered: Iterable[str] = (), receiver: str = "", absent: bool = False
    ) -> None:
        self.name = name
        self.detail = detail
        self.receiver = receiver
        self.absent = absent
        self.suggestions = difflib.get_close_matches(name, list(offered), n=3)
        if self.suggestions:
            hint = "did you mean " + " or ".join(repr(s) for s in self.suggestions) + "? Or wait for it"
        else:
            hint = "check the name, or wait for it"
        if absent:
            message = f"no node named {receiver!r} is in the mesh to run callback {name!r}"
            hint = "check the receiver's name, or wait for the node with wait_process()"
        elif receiver:
            message = f"node {receiver!r} does not offer a callback named {name!r}"
            hint += " with wait_function()"
        else:
            message = f"no node in the mesh offers a callback named {name!r}"
            hint += " with wait_function()"
        super().__init__(message + (f" ({detail})" if detail else "") + f"; {hint}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.detail, self.suggestions, self.receiver, self.absent))


class SerializationError(MeshError):
    """A value could not be pickled (encode) or unpickled (decode)."""


class PayloadTooLarge(SerializationError):
    """An encoded argument or result is larger than the ``max_message_size`` setting."""


class TransportError(MeshError):
    """The link between two nodes, or to the controller, failed."""


class PeerUnavailable(TransportError):
    """The peer left the mesh, died, or cannot be reached."""

    def __init__(self, peer: str, reason: str = "") -> None:
        self.peer = peer
        self.reason = reason
        super().__init__(f"peer {peer!r} is unavailable" + (f": {reason}" if reason else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.peer, self.reason))


class ControllerUnavailable(TransportError):
    """The controller cannot be reached."""


class AddressInUse(TransportError):
    """Another process already listens on the address a node or controller was to serve on."""


class AuthenticationError(TransportError):
    """A peer or the controller refused our proof of membership, or we refused theirs."""


class CallTimeout(MeshError, TimeoutError):
    """A call did not finish within its timeout."""


class CallCancelled(MeshError):
    """A call was cancelled before it finished."""


class NodeStopped(MeshError):
    """The node is stopping or has stopped; no more calls can be made through it."""


class NameTaken(MeshError):
    """Another live node of the mesh already uses this process name."""


class RemoteError(MeshError):
    """A callback raised an exception that could not be rebuilt on the caller.

    Attributes:
        type_name: qualified name of the remote exception's type.
        remote_message: ``str()`` of the remote exception.
        remote_traceback: the formatted remote traceback.
    """

    def __init__(self, type_name: str, remote_message: str, remote_traceback: str = "") -> None:
        self.type_name = type_name
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        text = f"{type_name}: {remote_message}"
        if remote_traceback:
            text += "\n\nRemote traceback:\n" + remote_traceback
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.remote_message, self.remote_traceback))


class BroadcastError(MeshError):
    """One or more nodes of a BROADCAST failed.

    Attributes:
        results: ``{node_name: result}`` of the nodes that succeeded.
        errors: ``{node_name: exception}`` of the nodes that failed.
    """

    def __init__(self, results: Mapping[str, Any], errors: Mapping[str, BaseException]) -> None:
        self.results = dict(results)
        self.errors = dict(errors)
        failed = ", ".join(f"{name}: {exc!r}" for name, exc in self.errors.items())
        super().__init__(f"{len(self.errors)} node(s) failed during BROADCAST: {failed}")
