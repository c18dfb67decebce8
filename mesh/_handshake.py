"""The handshake that opens a peer link: Hellos, then proofs of the mesh secret, both ways.

::

    dialler -> listener   Hello (dialler's nonce)
    listener -> dialler   Hello (listener's nonce and proof)
    dialler -> listener   Auth (dialler's proof)
    listener -> dialler   Auth (accepted)

Each side checks the other's proof before it reads anything else from the stream, so no payload of
an unauthenticated peer is ever decoded (decoding a pickle runs code).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from ._proto import mesh_pb2 as pb
from ._security import DIALLER, LISTENER, new_nonce, proof, proof_problem
from ._wire import read_frame
from .errors import AuthenticationError, ControllerUnavailable, PeerUnavailable

if TYPE_CHECKING:
    from ._config import NodeConfig
    from ._link import FrameStream
    from ._wire import Outgoing

logger = logging.getLogger("mesh")

HELLO_TIMEOUT = 5.0
CHECK_SECRET = "check that every node of the mesh uses the same secret (secret= or MESH_SECRET)"


class _Refused(Exception):
    def __init__(self, reason: str, code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def _frame(**body: Any) -> Outgoing:
    return pb.Frame(items=[pb.Envelope(**body)]), ()


_ENDED_BEFORE_PROOF = (
    "the peer ended the handshake instead of sending its proof: it probably refused ours (check that "
    "both use the same mesh secret)"
)


async def _read(read: Callable[[], Awaitable[Any]], what: str, ended: str = "") -> Any:
    """The next message of the handshake, within :data:`HELLO_TIMEOUT`; ``ended`` explains an EOF."""
    try:
        message = await asyncio.wait_for(read(), HELLO_TIMEOUT)
    except asyncio.TimeoutError:
        raise _Refused(f"no {what} within {HELLO_TIMEOUT} s") from None
    except grpc.aio.AioRpcError:
        raise
    except Exception as exc:  # a message that does not parse (DecodeError), or a broken stream
        raise _Refused(f"malformed message during the handshake ({type(exc).__name__}: {exc})") from None
    if message is grpc.aio.EOF:
        raise _Refused(ended or f"the stream ended before the {what}")
    return message


async def _read_single(read: Callable[[], Awaitable[Any]], kind: str, ended: str = "") -> pb.Envelope:
    """The next frame's only envelope, which must be of ``kind``."""
    frame, _ = await _read(lambda: read_frame(read), kind, ended)
    if len(frame.items) != 1 or frame.items[0].WhichOneof("body") != kind:
        kinds = [envelope.WhichOneof("body") for envelope in frame.items]
        raise _Refused(f"expected a frame of a single {kind}, got {kinds}")
    envelope: pb.Envelope = frame.items[0]
    return envelope


class HandshakeHost(Protocol):
    """What a handshake needs of its node: its settings, its Hello and its judgement of the peer's."""

    name: str
    config: NodeConfig
    stopping: bool

    def hello(self, nonce: bytes, proof: bytes = b"") -> pb.Hello: ...

    def check_hello(self, hello: pb.Hello) -> str | None: ...


async def as_dialler(node: HandshakeHost, stream: FrameStream, peer_name: str) -> pb.Hello:
    """The dialler's half; returns the listener's Hello once both sides are authenticated.

    Raises:
        AuthenticationError: the listener's proof is missing or wrong.
        PeerUnavailable: the listener's Hello is refused or the handshake breaks off.
        grpc.aio.AioRpcError: the listener refused the link (see :func:`rpc_error`).
    """
    secret = node.config.secret
    nonce = new_nonce()
    await stream.write(_frame(hello=node.hello(nonce)))
    try:
        hello = (await _read_single(stream.read, "hello")).hello
        refusal = node.check_hello(hello)
        if refusal is not None:
            raise PeerUnavailable(peer_name, f"refused its Hello: {refusal}")
        problem = proof_problem(secret, LISTENER, nonce, hello.nonce, hello.proof)
        if problem is not None:
            raise AuthenticationError(
                f"node {node.name!r} refused the link to {peer_name!r}: {problem}; {CHECK_SECRET}"
            )
        await stream.write(_frame(auth=pb.Auth(proof=proof(secret, DIALLER, nonce, hello.nonce))))
        if not (await _read_single(stream.read, "auth")).auth.accepted:
            raise AuthenticationError(f"node {peer_name!r} did not accept our proof of the mesh secret; {CHECK_SECRET}")
    except _Refused as exc:
        raise PeerUnavailable(peer_name, f"handshake failed: {exc.reason}") from None
    return hello


async def as_listener(node: HandshakeHost, context: grpc.aio.ServicerContext) -> pb.Hello:
    """The listener's half; returns the dialler's Hello once both sides are authenticated.

    A refused link is logged in one line and the stream aborted (``context.abort`` raises).
    """
    secret = node.config.secret
    ended = "the peer ended the stream before its Hello"
    try:
        hello = (await _read_single(context.read, "hello", ended)).hello
        refusal = f"node {node.name!r} is stopping" if node.stopping else node.check_hello(hello)
        if refusal is not None:
            raise _Refused(refusal)
        nonce = new_nonce()
        ended = _ENDED_BEFORE_PROOF
        await context.write(_frame(hello=node.hello(nonce, proof(secret, LISTENER, hello.nonce, nonce))))
        auth = (await _read_single(context.read, "auth", ended)).auth
        problem = proof_problem(secret, DIALLER, hello.nonce, nonce, auth.proof)
        if problem is not None:
            raise _Refused(f"node {hello.node_name!r}: {problem}", grpc.StatusCode.UNAUTHENTICATED)
        await context.write(_frame(auth=pb.Auth(accepted=True)))
        return hello
    except _Refused as exc:
        logger.warning("node %s: refused a link from %s: %s", node.name, context.peer(), exc.reason)
        await context.abort(exc.code, exc.reason)
        raise
    except asyncio.CancelledError:  # the peer cancelled the stream (or this node is stopping)
        if not node.stopping:
            logger.warning("node %s: refused a link from %s: %s", node.name, context.peer(), ended)
        raise


async def join_as_node(stream: Any, secret: bytes | None, member: pb.Member, controller: str) -> None:
    """The node's half of the ``Join`` handshake, up to the controller's acceptance (its snapshot).

    Raises:
        AuthenticationError: the controller's proof is missing or wrong.
        ControllerUnavailable: the handshake breaks off.
        grpc.aio.AioRpcError: the controller refused the join (see :func:`authentication_error`).
    """
    nonce = new_nonce()
    await stream.write(pb.MemberUpdate(member=member, nonce=nonce))
    try:
        challenge = await _read(stream.read, "challenge")
    except _Refused as exc:
        raise ControllerUnavailable(f"the controller at {controller} broke off the join: {exc.reason}") from None
    problem = proof_problem(secret, LISTENER, nonce, challenge.nonce, challenge.proof)
    if problem is not None:
        raise AuthenticationError(
            f"node {member.name!r} refused the controller at {controller}: {problem}; {CHECK_SECRET}"
        )
    await stream.write(pb.MemberUpdate(proof=proof(secret, DIALLER, nonce, challenge.nonce)))


async def join_as_controller(context: grpc.aio.ServicerContext, secret: bytes | None) -> pb.Member:
    """The controller's half of the ``Join`` handshake; the joining member once it proved the secret.

    A refused join is logged in one line and the stream aborted (``context.abort`` raises).
    """
    ended = "the node ended the stream before its first update"
    try:
        first = await _read(context.read, "first update", ended)
        if not first.member.node_id or not first.member.name:
            raise _Refused("the first update names no node")
        nonce = new_nonce()
        ended = _ENDED_BEFORE_PROOF
        await context.write(pb.MembershipEvent(nonce=nonce, proof=proof(secret, LISTENER, first.nonce, nonce)))
        answer = await _read(context.read, "proof", ended)
        problem = proof_problem(secret, DIALLER, first.nonce, nonce, answer.proof)
        if problem is not None:
            raise _Refused(f"node {first.member.name!r}: {problem}", grpc.StatusCode.UNAUTHENTICATED)
    except _Refused as exc:
        logger.warning("controller: refused a join from %s: %s", context.peer(), exc.reason)
        await context.abort(exc.code, exc.reason)
        raise
    except asyncio.CancelledError:  # the node cancelled the stream (or the controller is stopping)
        logger.warning("controller: refused a join from %s: %s", context.peer(), ended)
        raise
    member: pb.Member = first.member
    return member


def rpc_error(exc: grpc.aio.AioRpcError, peer_name: str, tls: bool) -> AuthenticationError | PeerUnavailable:
    """The mesh error for a failed ``Connect`` (or ``Join``) call to ``peer_name``."""
    auth = authentication_error(exc, peer_name, tls)
    return auth if auth is not None else PeerUnavailable(peer_name, f"{exc.code().name}: {exc.details()}")


def authentication_error(exc: grpc.aio.AioRpcError, peer_name: str, tls: bool) -> AuthenticationError | None:
    """An :class:`AuthenticationError` when ``exc`` is a refusal of our proof or certificate, else None.

    gRPC reports a refused TLS certificate only as UNAVAILABLE: a handshake failure ("Tls handshake
    failed"), a failed host name check ("Hostname Verification Check failed"), or the socket closed by
    the server that refused our certificate.
    """
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationError(f"{peer_name!r} refused our proof of the mesh secret ({details}); {CHECK_SECRET}")
    if tls and code == grpc.StatusCode.UNAVAILABLE and _looks_like_tls_refusal(details):
        return AuthenticationError(
            f"the TLS handshake with {peer_name!r} failed: the peer's certificate was refused (by us or by "
            f"it); check that both certificates are signed by the CA of TLSConfig.ca and name the address "
            f"dialled ({details})"
        )
    return None


def _looks_like_tls_refusal(details: str) -> bool:
    lowered = details.lower()
    return any(word in lowered for word in ("handshake", "certificate", "ssl", "verification", "socket closed"))
