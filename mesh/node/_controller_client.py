"""A node's side of the controller: join, keep the membership view current, rejoin after outages.

At start the node waits up to ``connect_timeout`` for the controller, retrying with backoff and
jitter while it is slow to answer (a herd of nodes starting at once on a busy machine); an address
that refuses the connection fails at once. Once joined, losing the controller is logged once, the
node keeps its view (see :mod:`mesh.membership._departures`) and rejoins whenever the controller is back,
which is logged once too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from ..errors import AuthenticationError, ControllerUnavailable, MeshError, NameTaken
from ..membership._membership import CONTROLLER
from ..wire import _transport
from ..wire._handshake import authentication_error, join_as_node
from ..wire._proto import mesh_pb2 as pb
from ..wire._proto import mesh_pb2_grpc as pb_grpc
from ..wire._retry import Backoff

if TYPE_CHECKING:
    from ..membership._membership import Membership
    from ._config import NodeConfig
    from ._registry import CallbackRegistry

logger = logging.getLogger("mesh")

RETRY_FIRST = 0.1
RETRY_MOST = 2.0
# How gRPC words a connection that nothing listens for (TCP, or a UNIX socket file left behind).
REFUSED = "Connection refused"
# A first join that takes longer than this is logged once, as a slow controller.
SLOW_NOTICE = 1.0


class ControllerHost(Protocol):
    """What the controller client needs of its node: who it is, what it offers, its view of the mesh."""

    name: str
    node_id: str
    address: str
    config: NodeConfig
    loop: asyncio.AbstractEventLoop
    registry: CallbackRegistry
    membership: Membership

    def spawn(self, coro: Any) -> asyncio.Task[Any]: ...


class ControllerClient:
    """Keeps one ``Controller.Join`` stream open for its node, reconnecting whenever it breaks.

    ``on_lost`` runs when a joined session ends (the controller died, or its stream broke).
    """

    def __init__(self, node: ControllerHost, address: str, on_lost: Callable[[], None]) -> None:
        self._node = node
        self._address = address
        self._on_lost = on_lost
        self._first_join: asyncio.Future[None] = node.loop.create_future()
        self._stream: Any = None
        self._task: asyncio.Task[None] | None = None
        self._last_error = "no answer yet"
        self._joined_last_session = False
        self._callbacks_sent: list[str] = []
        # One task writes announcements on a stream at a time: gRPC fails the whole call on a second
        # concurrent write. Announcements that come while it writes are folded into its next one.
        self._announcer: asyncio.Task[None] | None = None
        self._announce_wanted = False

    @property
    def connected(self) -> bool:
        """Whether the node is joined right now (the controller's view is current)."""
        return self._stream is not None

    async def start(self) -> None:
        """Join, waiting up to the node's ``connect_timeout`` for the first membership snapshot.

        Raises:
            ControllerUnavailable: no controller answered in time, or the address refused the connection.
            NameTaken: the controller refused the node's process name.
        """
        self._task = self._node.spawn(self._run())
        timeout = self._node.config.connect_timeout
        try:
            joined = await self._joined_within(min(SLOW_NOTICE, timeout))
            if not joined and timeout > SLOW_NOTICE:
                logger.warning(  # once: the retries themselves stay quiet
                    "node %s: the controller at %s is slow to answer (%s); waiting and retrying for up to %s s",
                    self._node.name,
                    self._address,
                    self._last_error,
                    timeout,
                )
                joined = await self._joined_within(timeout - SLOW_NOTICE)
            if not joined:
                raise ControllerUnavailable(
                    f"no controller answered at {self._address} within {timeout} s ({self._last_error}); "
                    "start one (mesh controller, or Global(init_controller=True)), check host and port, "
                    "or give a slow one more time (connect_timeout)"
                )
        except MeshError:
            self._task.cancel()
            raise

    async def _joined_within(self, seconds: float) -> bool:
        """Whether the first join succeeds within ``seconds``; raises what made it fail."""
        try:
            await asyncio.wait_for(asyncio.shield(self._first_join), max(seconds, 0.0))
        except asyncio.TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def announce(self) -> None:
        """Tell the controller this node's callbacks changed."""
        if self._stream is None:
            return
        self._announce_wanted = True
        if self._announcer is None or self._announcer.done():
            self._announcer = self._node.spawn(self._write_members())

    def _member(self) -> pb.Member:
        node = self._node
        return pb.Member(
            node_id=node.node_id,
            name=node.name,
            address=node.address,
            callbacks=node.registry.names(),
            mesh_name=node.config.mesh_name,
        )

    async def _write_members(self) -> None:
        """Write the node's member on the current stream until no announcement waits.

        A write on a stream that broke is made again on the session after it, if that one has begun;
        else the next session's join carries the callbacks as they are then."""
        while self._announce_wanted and (stream := self._stream) is not None:
            self._announce_wanted = False
            member = self._member()
            self._callbacks_sent = list(member.callbacks)
            try:
                await stream.write(pb.MemberUpdate(member=member))
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                self._announce_wanted = True
                if stream is self._stream:
                    return

    async def _run(self) -> None:
        backoff = Backoff(RETRY_FIRST, RETRY_MOST)
        while True:
            try:
                await self._session()
                self._last_error = "the controller closed the stream"
            except grpc.aio.AioRpcError as exc:
                refusal = authentication_error(
                    exc, f"the controller at {self._address}", self._node.config.tls is not None
                )
                if refusal is None:
                    self._last_error = f"{exc.code().name}: {exc.details()}"
                    if REFUSED in (exc.details() or "") and self._refused(self._connection_refused()):
                        return
                elif self._refused(refusal):
                    return
            except (NameTaken, AuthenticationError) as exc:
                if self._refused(exc):
                    return
            except ControllerUnavailable as exc:
                self._last_error = str(exc)
            if self._joined_last_session:
                self._joined_last_session = False
                backoff.reset()
                self._lost()
            await asyncio.sleep(backoff.next())

    def _connection_refused(self) -> ControllerUnavailable:
        return ControllerUnavailable(
            f"the controller address {self._address} refused the connection: nothing listens there; "
            "start the controller first (mesh controller, or Global(init_controller=True)) or check host and port"
        )

    def _lost(self) -> None:
        logger.warning(
            "node %s: lost the controller at %s (%s); the mesh goes on without it, rejoining when it is back",
            self._node.name,
            self._address,
            self._last_error,
        )
        self._on_lost()

    def _refused(self, exc: MeshError) -> bool:
        """Fail the first join with ``exc`` (True); later, log it and keep trying (False)."""
        if not self._first_join.done():
            self._first_join.set_exception(exc)
            return True
        if isinstance(exc, ControllerUnavailable):
            return False  # the controller is away: the outage was logged once when it began
        self._last_error = str(exc)
        logger.warning("node %s: the controller refused the rejoin: %s", self._node.name, exc)
        return False

    async def _session(self) -> None:
        node = self._node
        config = node.config
        async with _transport.open_channel(
            self._address, config.max_message_size, config.tls, _transport.CONTROLLER_CONNECT_ATTEMPT_MS
        ) as channel:
            stream = pb_grpc.ControllerStub(channel).Join()
            try:
                joined_as = self._member()
                self._callbacks_sent = list(joined_as.callbacks)
                await join_as_node(stream, config.secret, joined_as, self._address)
                while True:
                    event = await stream.read()
                    if event is grpc.aio.EOF:
                        return
                    self._apply(event, stream)
            finally:
                self._stream = None
                stream.cancel()

    def _apply(self, event: pb.MembershipEvent, stream: Any) -> None:
        membership = self._node.membership
        if event.refused:
            raise NameTaken(event.refused)
        if event.HasField("upsert"):
            member = event.upsert
            if member.node_id != self._node.node_id:
                membership.upsert(member.node_id, member.name, member.address, member.callbacks, CONTROLLER)
        elif event.removed:
            membership.drop(event.removed, CONTROLLER)
        else:
            membership.replace_source(
                CONTROLLER,
                [
                    (m.node_id, m.name, m.address, m.callbacks)
                    for m in event.snapshot
                    if m.node_id != self._node.node_id
                ],
            )
            self._stream = stream
            self._joined_last_session = True
            if not self._first_join.done():
                self._first_join.set_result(None)
            else:
                logger.warning("node %s: rejoined the controller at %s", self._node.name, self._address)
            if self._callbacks_sent != self._node.registry.names():
                self.announce()  # callbacks registered while the join was under way
