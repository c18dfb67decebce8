"""Discovery for one node: announce it, link to the nodes of its mesh found over mDNS, join a found
controller (see :mod:`mesh.membership.discovery` for the announcements and how liveness is judged)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import MeshError
from ..membership._membership import DISCOVERY, Member
from ..membership.discovery import CONTROLLER_ROLE, NODE_ROLE, Announcement, MdnsEndpoint
from ..wire._retry import Backoff

if TYPE_CHECKING:
    from ..membership._membership import Membership
    from ._config import NodeConfig

logger = logging.getLogger("mesh")

# How long a redial may take before the peer leaves the view (the peer may be cut off, not dead).
REDIAL_TIMEOUT = 1.5
RETRY_MIN = 1.0
RETRY_MAX = 10.0


@dataclass(slots=True)
class _Peer:
    announcement: Announcement
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    keeper: asyncio.Task[None] | None = None
    reached: bool = False
    warned: bool = False


class DiscoveryHost(Protocol):
    """What discovery needs of its node: who it is and where, its view of the mesh, links and a controller."""

    name: str
    node_id: str
    addresses: list[str]
    config: NodeConfig
    stopping: bool
    membership: Membership

    def spawn(self, coro: Any) -> asyncio.Task[Any]: ...

    def link_to(self, member: Member) -> Awaitable[Any]: ...

    async def join_controller(self, address: str) -> None: ...

    async def leave_controller(self) -> None: ...


class NodeDiscovery:
    """Discovery for one node: announce it, link to the nodes of its mesh, join a found controller."""

    def __init__(self, node: DiscoveryHost) -> None:
        self._node = node
        config = node.config
        self._announcement = Announcement.of(NODE_ROLE, node.node_id, node.name, config.mesh_name, node.addresses)
        self._mdns: MdnsEndpoint | None = None
        self._peers: dict[str, _Peer] = {}
        self._by_id: dict[str, _Peer] = {}
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._resolve_again: set[str] = set()
        self._controllers: dict[str, Announcement] = {}
        self._controller: str | None = None

    async def start(self) -> None:
        """Browse at once (existing nodes answer within ~0.1 s) and announce in the background."""
        self._mdns = MdnsEndpoint(self._node.config.interfaces)
        self._mdns.browse(self._changed)
        if self._node.config.announce:
            self._mdns.announce(self._announcement)

    async def stop(self) -> None:
        """Say goodbye and stop every background task of discovery."""
        tasks = [p.keeper for p in self._peers.values() if p.keeper is not None] + list(self._resolving.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._peers.clear()
        self._by_id.clear()
        if self._mdns is not None:
            await self._mdns.aclose()

    def link_lost(self, node_id: str) -> None:
        """The current link to ``node_id`` closed: check whether the peer is still there."""
        peer = self._by_id.get(node_id)
        if peer is not None:
            peer.wake.set()

    # ------------------------------------------------------------------ mDNS events

    def _changed(self, instance: str, removed: bool) -> None:
        if self._node.stopping:
            return
        if removed:
            self._forget(instance)
            return
        task = self._resolving.get(instance)
        if task is not None and not task.done():
            self._resolve_again.add(instance)
            return
        self._resolving[instance] = self._node.spawn(self._resolve(instance))

    async def _resolve(self, instance: str) -> None:
        assert self._mdns is not None
        try:
            while True:
                self._resolve_again.discard(instance)
                announcement = await self._mdns.resolve(instance)
                if announcement is not None:
                    self._found(instance, announcement)
                if instance not in self._resolve_again:
                    return
        finally:
            if self._resolving.get(instance) is asyncio.current_task():
                del self._resolving[instance]

    def _found(self, instance: str, announcement: Announcement) -> None:
        node = self._node
        if announcement.mesh_name != node.config.mesh_name or announcement.node_id == node.node_id:
            return
        if announcement.role == CONTROLLER_ROLE:
            self._controllers[instance] = announcement
            self._choose_controller()
            return
        if announcement.role != NODE_ROLE:
            return
        peer = self._peers.get(instance)
        if peer is None:
            peer = _Peer(announcement)
            self._peers[instance] = peer
            self._by_id[announcement.node_id] = peer
            peer.keeper = node.spawn(self._keep(peer))
            return
        previous, peer.announcement = peer.announcement, announcement
        if previous.node_id != announcement.node_id:
            # Restarted under the same instance name with a new identity: the old one is gone.
            self._by_id.pop(previous.node_id, None)
            self._by_id[announcement.node_id] = peer
            node.membership.drop(previous.node_id, DISCOVERY)
        peer.wake.set()

    def _forget(self, instance: str) -> None:
        """A goodbye (or the end of the mDNS record's life)."""
        task = self._resolving.pop(instance, None)
        if task is not None:
            task.cancel()
        peer = self._peers.pop(instance, None)
        if peer is not None:
            if peer.keeper is not None:
                peer.keeper.cancel()
            self._by_id.pop(peer.announcement.node_id, None)
            self._node.membership.drop(peer.announcement.node_id, DISCOVERY)
        if self._controllers.pop(instance, None) is not None and self._controller == instance:
            self._controller = None
            self._node.spawn(self._leave_controller())

    # ------------------------------------------------------------------ peers

    async def _keep(self, peer: _Peer) -> None:
        """Vouch for ``peer`` while it answers; redial when woken (link lost, announcement changed)."""
        node = self._node
        backoff = Backoff(RETRY_MIN, RETRY_MAX)
        while True:
            peer.wake.clear()
            announcement = peer.announcement
            problem = await self._reach(announcement)
            if problem is None:
                peer.reached = True
                backoff.reset()
                await peer.wake.wait()
                continue
            node.membership.drop(announcement.node_id, DISCOVERY)
            # A node that leaves is ordinary; one that is announced but never answers is misconfigured.
            level = logging.DEBUG if peer.reached or peer.warned else logging.WARNING
            peer.warned = True
            logger.log(
                level,
                "node %s: %s at %s, found by discovery, cannot be linked: %s",
                node.name,
                announcement.name,
                announcement.target,
                problem,
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(peer.wake.wait(), backoff.next())

    async def _reach(self, announcement: Announcement) -> str | None:
        """Link to the announced node (or find the live link) and vouch for it; else say why not."""
        node = self._node
        member = Member(announcement.node_id, announcement.name, announcement.target, frozenset())
        try:
            link = await asyncio.wait_for(node.link_to(member), REDIAL_TIMEOUT)
        except asyncio.TimeoutError:
            return f"no answer within {REDIAL_TIMEOUT} s"
        except MeshError as exc:
            return str(exc)
        if link.peer_id != announcement.node_id:
            return f"node {link.peer_name!r} answers there now"
        current = node.membership.get(announcement.node_id)
        if current is None:
            return "its link closed at once"
        node.membership.upsert(current.node_id, current.name, current.address, current.callbacks, DISCOVERY)
        return None

    # ------------------------------------------------------------------ controller

    def _choose_controller(self) -> None:
        node = self._node
        if node.config.controller is not None or self._controller is not None or not self._controllers:
            return
        instance = min(self._controllers)
        self._controller = instance
        node.spawn(self._join_controller(instance, self._controllers[instance]))

    async def _join_controller(self, instance: str, announcement: Announcement) -> None:
        try:
            await self._node.join_controller(announcement.target)
        except MeshError as exc:
            logger.warning("node %s: cannot join the discovered controller: %s", self._node.name, exc)
            if self._controller == instance:
                self._controller = None

    async def _leave_controller(self) -> None:
        await self._node.leave_controller()
        self._choose_controller()
