"""Links: a :class:`Node` dials its peers, serves their ``Connect`` streams and keeps one link to each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grpc

from ..errors import AuthenticationError, NodeStopped, PeerUnavailable
from ..membership._departures import Departures
from ..membership._membership import LINK, Member, Membership
from ..wire import _frames, _handshake, _transport
from ..wire._closing import accept_rpc, keep_from_program_end
from ..wire._frames import Buffers
from ..wire._link import PeerLink
from ..wire._proto import mesh_pb2 as pb
from ..wire._retry import Backoff
from ._registry import CallbackRegistry

if TYPE_CHECKING:
    from ._config import NodeConfig
    from ._discovering import NodeDiscovery

logger = logging.getLogger("mesh")

# 2: out-of-band buffers travel as the frame's blobs. 3: a large frame's blobs follow it as messages of their own.
PROTOCOL_VERSION = 5
# Redialling a configured peer (``peers=``) that cannot be reached.
PEER_RETRY_FIRST = 0.1
PEER_RETRY_MOST = 1.0


class Linking:
    """The links of a node (a mixin of :class:`~mesh.node._node.Node`); it runs on the node's loop."""

    name: str
    node_id: str
    address: str
    config: NodeConfig
    loop: asyncio.AbstractEventLoop
    registry: CallbackRegistry
    membership: Membership
    departures: Departures
    links: dict[str, PeerLink]
    stopping: bool
    _all_links: set[PeerLink]
    _dials: dict[str, asyncio.Task[PeerLink]]
    _channels: dict[PeerLink, grpc.aio.Channel]
    _discovery: NodeDiscovery | None
    call_ids: Iterator[int]
    # How many times this node has announced a change of its callbacks (see Node._announce_callbacks).
    callbacks_announced: int = 0

    if TYPE_CHECKING:

        def spawn(self, coro: Any) -> asyncio.Task[Any]: ...

        def on_call(self, link: PeerLink, call_id: int, call: pb.Call, buffers: Buffers) -> None: ...

        def on_cancel(self, link: PeerLink, call_id: int) -> None: ...

        def on_answer(self, via: str, call_id: int, result: pb.Result, buffers: Buffers) -> None: ...

    def hello(self, nonce: bytes, proof: bytes = b"") -> pb.Hello:
        """This node's Hello, the first message of a link's handshake (:mod:`mesh.wire._handshake`): who it
        is, its callbacks and message limit, the handshake's ``nonce`` and, from the listener, the
        ``proof`` of the mesh secret (empty without a secret, and from the dialler, whose proof
        follows in an Auth)."""
        return pb.Hello(
            node_id=self.node_id,
            node_name=self.name,
            mesh_name=self.config.mesh_name,
            protocol_version=PROTOCOL_VERSION,
            callbacks=self.registry.names(),
            address=self.address,
            nonce=nonce,
            proof=proof,
            max_message_size=self.config.max_message_size,
        )

    def check_hello(self, hello: pb.Hello) -> str | None:
        """Why a peer's Hello is refused, or None when it is welcome."""
        if hello.protocol_version != PROTOCOL_VERSION:
            return f"protocol version {hello.protocol_version} is not {PROTOCOL_VERSION}"
        if hello.mesh_name != self.config.mesh_name:
            return f"mesh {hello.mesh_name!r} is not {self.config.mesh_name!r}"
        if hello.node_id == self.node_id:
            return "a node cannot link to itself"
        if not hello.node_id or not hello.node_name:
            return "Hello has no node id or name"
        return None

    async def link_to(self, member: Member) -> PeerLink:
        """The live link to ``member``, dialling it when there is none.

        Raises:
            PeerUnavailable: the member cannot be reached.
        """
        link = self.links.get(member.node_id)
        if link is not None and not link.closed:
            return link
        if self.stopping:
            raise NodeStopped(f"node {self.name!r} is stopped")
        dial = self._dials.get(member.node_id)
        if dial is None:
            dial = self.loop.create_task(self._dial(member.address, member.name))
            keep_from_program_end(dial)
            self._dials[member.node_id] = dial
            dial.add_done_callback(lambda done: self._dialled(member, done))
        try:
            return await asyncio.shield(dial)
        except asyncio.CancelledError:
            if dial.cancelled() and self.stopping:
                raise NodeStopped(f"node {self.name!r} stopped while linking to {member.name!r}") from None
            raise

    def _dialled(self, member: Member, dial: asyncio.Task[PeerLink]) -> None:
        self._dials.pop(member.node_id, None)
        if not dial.cancelled() and isinstance(dial.exception(), PeerUnavailable):
            self.departures.unreachable(member)

    async def _keep_linked(self, address: str, tried: asyncio.Future[None]) -> None:
        """Keep a link to the configured peer at ``address``: dial again whenever there is none.

        ``tried`` is resolved once the first attempt has linked or failed.
        """
        backoff = Backoff(PEER_RETRY_FIRST, PEER_RETRY_MOST)
        unreachable = False
        while not self.stopping:
            try:
                link = await self._dial(address, address)
            except (PeerUnavailable, AuthenticationError) as exc:
                if not tried.done():
                    tried.set_result(None)
                if not unreachable:
                    logger.warning("node %s: cannot reach peer %s (will keep trying): %s", self.name, address, exc)
                unreachable = True
                await asyncio.sleep(backoff.next())
                continue
            if not tried.done():
                tried.set_result(None)
            if unreachable:
                logger.info("node %s: reached peer %s again", self.name, address)
            unreachable = False
            backoff.reset()
            # The peer's own link to us may be the one kept: wait until there is no live link at all.
            live: PeerLink | None = link
            while live is not None and not live.closed:
                await live.wait_closed()
                live = self.links.get(link.peer_id)

    async def _dial(self, address: str, peer_name: str) -> PeerLink:
        """Open a link to the node at ``address``.

        A peer slow to start HTTP/2 on the connection (a busy machine) is dialled again with longer
        attempt bounds; one that refuses the connection fails at once.

        Raises:
            PeerUnavailable: it cannot be reached, or its Hello is refused.
            AuthenticationError: it refused our proof or certificate, or we refused its.
        """
        slower = iter(_transport.PEER_SLOW_CONNECT_ATTEMPTS_MS)
        attempt_ms = _transport.PEER_CONNECT_ATTEMPT_MS
        announced = self.callbacks_announced
        while True:
            channel = _transport.open_channel(address, self.config.max_message_size, self.config.tls, attempt_ms)
            try:
                stream = _frames.open_stream(channel)
                hello = await _handshake.as_dialler(self, stream, peer_name)
                break
            except grpc.aio.AioRpcError as exc:
                await channel.close(None)
                attempt_ms = next(slower, 0) if _transport.busy_peer(exc) else 0
                if not attempt_ms:
                    raise _handshake.rpc_error(exc, peer_name, self.config.tls is not None) from None
            except BaseException:
                await channel.close(None)
                raise
        link = PeerLink(self, hello, stream, dialled_by=self.node_id, on_close=stream.cancel)
        self._channels[link] = channel
        self.register_link(link, hello, announced)
        self.spawn(link.run())
        return link

    async def _serve_link(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        """The server side of a peer link: one ``Connect`` stream."""
        accept_rpc()
        announced = self.callbacks_announced
        hello = await _handshake.as_listener(self, context)
        link = PeerLink(self, hello, context, dialled_by=hello.node_id)
        self.register_link(link, hello, announced)
        await link.run()

    def register_link(self, link: PeerLink, hello: pb.Hello, announced: int) -> None:
        """Make ``link`` the link to its peer, unless a link dialled by the smaller node id exists.

        ``announced`` is :attr:`callbacks_announced` as the handshake began.
        """
        self._all_links.add(link)
        current = self.links.get(link.peer_id)
        winner_dialler = min(self.node_id, link.peer_id)
        if current is None or current.closed or link.dialled_by == winner_dialler:
            self.links[link.peer_id] = link
            if current is not None and not current.closed:
                self.spawn(self._retire(current))
        else:
            self.spawn(self._retire(link))
        self.membership.upsert(link.peer_id, hello.node_name, hello.address, hello.callbacks, LINK)
        if self.callbacks_announced != announced:
            # The callbacks changed during the handshake: the change went to the links of that moment,
            # not this one, and the Hello may predate it; the peer takes this link's word over the controller's.
            link.send_offer(self.registry.names())

    async def _retire(self, link: PeerLink) -> None:
        """Close a duplicate link once no call uses it."""
        while link.in_flight and not link.closed:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        if link.dialled_by == self.node_id and not link.in_flight:
            link.close("replaced by the link dialled by the smaller node id")

    def on_link_closed(self, link: PeerLink) -> None:
        self._all_links.discard(link)
        channel = self._channels.pop(link, None)
        if channel is not None:
            self.spawn(channel.close(None))
        if self.links.get(link.peer_id) is link:
            del self.links[link.peer_id]
            self.membership.drop(link.peer_id, LINK)
            self.departures.link_lost(link.peer_id)
            if self._discovery is not None:
                self._discovery.link_lost(link.peer_id)

    def on_offer(self, link: PeerLink, callbacks: list[str]) -> None:
        self.membership.upsert(link.peer_id, link.peer_name, link.peer_address, callbacks, LINK)
