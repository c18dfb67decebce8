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
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from ..errors import AuthenticationError, ControllerUnavailable, PeerUnavailable
from ._frames import read_frame
from ._proto import mesh_pb2 as pb
from ._security import DIALLER, LISTENER, new_nonce, proof, proof_problem

if TYPE_CHECKING:
    from ._frames import Outgoing
    from ._link import FrameStream

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


class HandshakeSettings(Protocol):
    """What a handshake reads of its node's settings."""

    @property
    def secret(self) -> bytes | None: ...


class HandshakeHost(Protocol):
    """What a handshake needs of its node: its settings, its Hello and its judgement of the peer's."""

    name: str
    stopping: bool

    @property
    def config(self) -> HandshakeSettings: ...

    def hello(self, nonce: bytes, proof: bytes = b"") -> pb.Hello: ...

    def check_hello(self, hello: pb.Hello) -> str | None: ...


class _Proofs:
    """One side's fresh nonce, its proof of the mesh secret, and its check of the other side's proof.

    Both proofs cover both nonces (the dialler's first) and the prover's role, so neither a recorded
    handshake nor one side's proof sent back as the other's passes.
    """

    def __init__(self, secret: bytes | None, role: bytes) -> None:
        self._secret = secret
        self._role = role
        self._other = LISTENER if role == DIALLER else DIALLER
        self.nonce = new_nonce()

    def _nonces(self, theirs: bytes) -> tuple[bytes, bytes]:
        return (self.nonce, theirs) if self._role == DIALLER else (theirs, self.nonce)

    def ours(self, theirs: bytes) -> bytes:
        """Our proof, for the side whose nonce is ``theirs``."""
        return proof(self._secret, self._role, *self._nonces(theirs))

    def problem(self, theirs: bytes, their_proof: bytes) -> str | None:
        """Why ``their_proof`` is not the other side's valid proof, or None when it is (or no secret is set)."""
        return proof_problem(self._secret, self._other, *self._nonces(theirs), their_proof)


async def _prove_to_listener(
    write: Callable[[Any], Awaitable[None]], proofs: _Proofs, answer: Any, message: Callable[[bytes], Any], who: str
) -> None:
    """The dialler's check of the listener's proof in ``answer`` (a Hello, or the controller's challenge),
    then its own proof, sent as ``message(proof)``; ``who`` refuses, and names what, in the error.

    Raises:
        AuthenticationError: the listener's proof is missing or wrong.
    """
    problem = proofs.problem(answer.nonce, answer.proof)
    if problem is not None:
        raise AuthenticationError(f"{who}: {problem}; {CHECK_SECRET}")
    await write(message(proofs.ours(answer.nonce)))


class _Listening:
    """The listener's side of a handshake on ``context``: its challenge, its check of the dialler's proof,
    and its refusal of whatever fails (one log line, then the stream aborted)."""

    def __init__(self, context: grpc.aio.ServicerContext, secret: bytes | None, who: str, what: str) -> None:
        self.context = context
        self._proofs = _Proofs(secret, LISTENER)
        # Who refuses and what ("node N", "a link"), for the log line.
        self.who = who
        self.what = what
        # What the stream ending now means, said when it does.
        self.ended = ""

    async def challenge(self, dialler_nonce: bytes, message: Callable[[bytes, bytes], Any]) -> None:
        """Send our fresh nonce and our proof, as ``message(nonce, proof)``."""
        self.ended = _ENDED_BEFORE_PROOF
        await self.context.write(message(self._proofs.nonce, self._proofs.ours(dialler_nonce)))

    def check(self, dialler_nonce: bytes, their_proof: bytes, name: str) -> None:
        """Refuse node ``name`` unless ``their_proof`` proves the secret for our challenge."""
        problem = self._proofs.problem(dialler_nonce, their_proof)
        if problem is not None:
            raise _Refused(f"node {name!r}: {problem}", grpc.StatusCode.UNAUTHENTICATED)

    @contextlib.asynccontextmanager
    async def refusing(self, quiet: Callable[[], bool] = lambda: False) -> AsyncIterator[None]:
        """Log and abort on a refusal; log a stream the dialler ended too, unless ``quiet()`` (stopping)."""
        try:
            yield
        except _Refused as exc:
            logger.warning("%s: refused %s from %s: %s", self.who, self.what, self.context.peer(), exc.reason)
            await self.context.abort(exc.code, exc.reason)
            raise
        except asyncio.CancelledError:  # the dialler cancelled the stream (or this side is stopping)
            if not quiet():
                logger.warning("%s: refused %s from %s: %s", self.who, self.what, self.context.peer(), self.ended)
            raise


async def as_dialler(node: HandshakeHost, stream: FrameStream, peer_name: str) -> pb.Hello:
    """The dialler's half; returns the listener's Hello once both sides are authenticated.

    Raises:
        AuthenticationError: the listener's proof is missing or wrong.
        PeerUnavailable: the listener's Hello is refused or the handshake breaks off.
        grpc.aio.AioRpcError: the listener refused the link (see :func:`rpc_error`).
    """
    proofs = _Proofs(node.config.secret, DIALLER)
    await stream.write(_frame(hello=node.hello(proofs.nonce)))
    try:
        hello = (await _read_single(stream.read, "hello")).hello
        refusal = node.check_hello(hello)
        if refusal is not None:
            raise PeerUnavailable(peer_name, f"refused its Hello: {refusal}")
        await _prove_to_listener(
            stream.write,
            proofs,
            hello,
            lambda ours: _frame(auth=pb.Auth(proof=ours)),
            f"node {node.name!r} refused the link to {peer_name!r}",
        )
        if not (await _read_single(stream.read, "auth")).auth.accepted:
            raise AuthenticationError(f"node {peer_name!r} did not accept our proof of the mesh secret; {CHECK_SECRET}")
    except _Refused as exc:
        raise PeerUnavailable(peer_name, f"handshake failed: {exc.reason}") from None
    return hello


async def as_listener(node: HandshakeHost, context: grpc.aio.ServicerContext) -> pb.Hello:
    """The listener's half; returns the dialler's Hello once both sides are authenticated.

    A refused link is logged in one line and the stream aborted (``context.abort`` raises).
    """
    listening = _Listening(context, node.config.secret, f"node {node.name}", "a link")
    listening.ended = "the peer ended the stream before its Hello"
    async with listening.refusing(quiet=lambda: node.stopping):
        hello = (await _read_single(context.read, "hello", listening.ended)).hello
        refusal = f"node {node.name!r} is stopping" if node.stopping else node.check_hello(hello)
        if refusal is not None:
            raise _Refused(refusal)
        await listening.challenge(hello.nonce, lambda nonce, ours: _frame(hello=node.hello(nonce, ours)))
        auth = (await _read_single(context.read, "auth", listening.ended)).auth
        listening.check(hello.nonce, auth.proof, hello.node_name)
        await context.write(_frame(auth=pb.Auth(accepted=True)))
    return hello


async def join_as_node(stream: Any, secret: bytes | None, member: pb.Member, controller: str) -> None:
    """The node's half of the ``Join`` handshake, up to the controller's acceptance (its snapshot).

    Raises:
        AuthenticationError: the controller's proof is missing or wrong.
        ControllerUnavailable: the handshake breaks off.
        grpc.aio.AioRpcError: the controller refused the join (see :func:`authentication_error`).
    """
    proofs = _Proofs(secret, DIALLER)
    await stream.write(pb.MemberUpdate(member=member, nonce=proofs.nonce))
    try:
        challenge = await _read(stream.read, "challenge")
    except _Refused as exc:
        raise ControllerUnavailable(f"the controller at {controller} broke off the join: {exc.reason}") from None
    await _prove_to_listener(
        stream.write,
        proofs,
        challenge,
        lambda ours: pb.MemberUpdate(proof=ours),
        f"node {member.name!r} refused the controller at {controller}",
    )


async def join_as_controller(context: grpc.aio.ServicerContext, secret: bytes | None) -> pb.Member:
    """The controller's half of the ``Join`` handshake; the joining member once it proved the secret.

    A refused join is logged in one line and the stream aborted (``context.abort`` raises).
    """
    listening = _Listening(context, secret, "controller", "a join")
    listening.ended = "the node ended the stream before its first update"
    async with listening.refusing():
        first = await _read(context.read, "first update", listening.ended)
        if not first.member.node_id or not first.member.name:
            raise _Refused("the first update names no node")
        await listening.challenge(first.nonce, lambda nonce, ours: pb.MembershipEvent(nonce=nonce, proof=ours))
        answer = await _read(context.read, "proof", listening.ended)
        listening.check(first.nonce, answer.proof, first.member.name)
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
