"""The controller: who is in the mesh, where each node listens, what it offers. It relays no calls.

Part of the mesh's membership layer: the nodes' side of the same protocol is ``_controller_client``.
The top-level ``controller`` package re-exports this module's public names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import grpc

from ..wire import _handshake, _transport
from ..wire._closing import accept_rpc, close_server, keep_from_program_end, start_server
from ..wire._health import CONTROLLER_SERVICE, Health
from ..wire._proto import mesh_pb2 as pb
from ..wire._proto import mesh_pb2_grpc as pb_grpc
from ..wire._security import TLSConfig, resolve_secret
from ._membership import Member

logger = logging.getLogger("mesh.controller")


@dataclass(slots=True)
class _Joined:
    member: pb.Member
    events: asyncio.Queue[pb.MembershipEvent | None] = field(default_factory=asyncio.Queue)


class ControllerService(pb_grpc.ControllerServicer):
    """Tracks members through their open ``Join`` streams and pushes every change to all of them.

    A member is gone the moment its stream breaks: a killed process closes its socket at once, and
    a hung one is caught by the server's keepalive pings (about 2 s).

    A join costs the controller one snapshot to the joiner and one delta to each member: nothing it
    does per join grows faster than the number of members.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self.members: dict[str, _Joined] = {}
        self._by_name: dict[str, _Joined] = {}
        self.observers: set[asyncio.Queue[pb.MembershipEvent | None]] = set()
        self._secret = secret

    def member_views(self) -> list[Member]:
        """The current members, in the form nodes keep them."""
        return [
            Member(j.member.node_id, j.member.name, j.member.address, frozenset(j.member.callbacks))
            for j in self.members.values()
        ]

    async def Join(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        accept_rpc()
        member = await _handshake.join_as_controller(context, self._secret)
        if not member.address:
            await self._observe(context)
            return
        taken = self._by_name.get(member.name)
        if taken is not None and taken.member.node_id != member.node_id:
            await context.write(
                pb.MembershipEvent(
                    refused=f"process name {member.name!r} is already used by the live node at "
                    f"{taken.member.address}; choose another process_name"
                )
            )
            return
        joined = _Joined(member)
        previous = self.members.get(member.node_id)
        if previous is not None:
            previous.events.put_nowait(None)
        self.members[member.node_id] = joined
        self._by_name[member.name] = joined
        logger.info("member joined: %s at %s", member.name, member.address)
        await context.write(pb.MembershipEvent(snapshot=[j.member for j in self.members.values()]))
        self._publish(pb.MembershipEvent(upsert=member), member.node_id)
        reader = asyncio.create_task(self._read_updates(context, joined))
        keep_from_program_end(reader)
        try:
            while True:
                event = await joined.events.get()
                if event is None:
                    break
                await context.write(event)
        finally:
            reader.cancel()
            if self.members.get(member.node_id) is joined:
                del self.members[member.node_id]
                if self._by_name.get(member.name) is joined:
                    del self._by_name[member.name]
                logger.info("member left: %s", member.name)
                self._publish(pb.MembershipEvent(removed=member.node_id), member.node_id)

    async def _observe(self, context: grpc.aio.ServicerContext) -> None:
        """Stream the view to a join without an address (``mesh ls``): nobody can dial it, so it is no member."""
        events: asyncio.Queue[pb.MembershipEvent | None] = asyncio.Queue()
        self.observers.add(events)
        try:
            await context.write(pb.MembershipEvent(snapshot=[j.member for j in self.members.values()]))
            while (event := await events.get()) is not None:
                await context.write(event)
        finally:
            self.observers.discard(events)

    async def _read_updates(self, context: grpc.aio.ServicerContext, joined: _Joined) -> None:
        try:
            while True:
                update = await context.read()
                if update is grpc.aio.EOF:
                    break
                if update.member.node_id == joined.member.node_id:
                    joined.member = update.member
                    self._publish(pb.MembershipEvent(upsert=update.member), update.member.node_id)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass
        finally:
            joined.events.put_nowait(None)

    def _publish(self, event: pb.MembershipEvent, source: str) -> None:
        for node_id, joined in self.members.items():
            if node_id != source:
                joined.events.put_nowait(event)
        for events in self.observers:
            events.put_nowait(event)


class ControllerServer:
    """A controller served on one address (``host:port`` or ``unix:/path``); port 0 picks one.

    ``secret`` (default: ``$MESH_SECRET``) makes every joining node prove it knows the mesh secret,
    and the controller prove it in turn; ``tls`` serves over mutual TLS. Without either, only UNIX
    sockets and loopback addresses may be served.
    """

    def __init__(
        self,
        address: str,
        max_message_size: int = _transport.DEFAULT_MAX_MESSAGE_SIZE,
        *,
        secret: str | bytes | None = None,
        tls: TLSConfig | None = None,
    ) -> None:
        self.requested = address
        self.secret = resolve_secret(secret)
        self.tls = tls
        self.address = ""
        self.service = ControllerService(self.secret)
        self._max_message_size = max_message_size
        self._server: grpc.aio.Server | None = None
        self._health: Health | None = None

    async def start(self) -> None:
        server = grpc.aio.server(options=_transport.server_options(self._max_message_size))
        pb_grpc.add_ControllerServicer_to_server(self.service, server)
        health = Health(server, CONTROLLER_SERVICE)
        self.address = _transport.bind(server, self.requested, "controller", self.secret, self.tls)
        await start_server(server)
        self._server, self._health = server, health
        await health.serving()
        # Debug: `mesh controller` prints this line itself.
        logger.debug("controller listening on %s", self.address)

    async def stop(self, grace: float | None = None) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            if self._health is not None:
                await self._health.stopping()
            for joined in self.service.members.values():
                joined.events.put_nowait(None)
            for events in self.service.observers:
                events.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await close_server(server, grace, self.address)

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aenter__(self) -> ControllerServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
