"""The node runtime: one asyncio loop serving a gRPC endpoint, holding peer links, running callbacks.

A node is four parts, each in a module of its own: its lifecycle here, its outgoing calls
(:mod:`mesh.node._outgoing`), the calls it serves (:mod:`mesh.node._serving`) and its links (:mod:`mesh.node._linking`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import grpc

from ..errors import NodeStopped
from ..membership._departures import Departures
from ..membership._membership import CONTROLLER, SELF, Member, Membership
from ..wire import _frames, _interfaces, _tracing, _transport
from ..wire._closing import close_server, keep_from_program_end, start_server
from ..wire._health import NODE_SERVICE, Health
from ..wire._link import PeerLink
from . import _logs
from ._broadcast import Broadcasting
from ._config import NodeConfig
from ._deadlines import Deadlines
from ._handoff import Handoff
from ._linking import Linking
from ._member_hooks import MemberHooks
from ._memory import tune_malloc
from ._offers import Offers
from ._registry import REGISTRY, CallbackRegistry
from ._schedule import Schedule
from ._serving import Serving
from ._stats import INTERNAL_PREFIX, NodeStats
from ._streams import StreamReply
from ._workers import WorkerPool

if TYPE_CHECKING:
    from ._controller_client import ControllerClient
    from ._discovering import NodeDiscovery

logger = logging.getLogger("mesh")

# How long a stopping node waits for its cancelled tasks (dials, closing channels) to end.
STOP_TASKS_WAIT = 5.0


class Node(Broadcasting, Serving, Linking):
    """One process's membership of the mesh. All methods but :meth:`prepare` run on ``self.loop``."""

    def __init__(self, config: NodeConfig, registry: CallbackRegistry = REGISTRY) -> None:
        self.config = config
        self.name = config.name
        self.node_id = config.node_id
        self.registry = registry
        self.address = ""
        self.call_ids = itertools.count(1)
        self.answer_dial_failed: dict[str, float] = {}
        # Every address peers can dial, best first; ``address`` is the first.
        self.addresses: list[str] = []
        self.loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self.handoff = Handoff(self.loop)
        self.deadlines = Deadlines(self.loop)
        self._expire_call = self._expire
        self.membership = Membership(on_removed=self._member_removed, on_added=self._member_added)
        # Set by the Global that runs this node before it starts: its membership hooks, and itself (for the
        # callbacks that ask for it, mesh.node._inject).
        self.member_hooks = MemberHooks()
        self.owner: Callable[[], Any] = _nobody
        self.offers = Offers(self.membership, registry, self.node_id)
        self.links: dict[str, PeerLink] = {}
        self.stopping = False
        self.local_calls = 0
        # Its call statistics; the Global that runs it hands over its own, which its calls count in too.
        self.stats = NodeStats()
        self.local_streams: set[StreamReply] = set()
        self._all_links: set[PeerLink] = set()
        self._dials: dict[str, asyncio.Task[PeerLink]] = {}
        self._channels: dict[PeerLink, grpc.aio.Channel] = {}
        self.workers = WorkerPool(config.max_workers, f"mesh-{config.name}", self.loop)
        self._server: grpc.aio.Server | None = None
        self._health: Health | None = None
        self._controller: ControllerClient | None = None
        self.departures = Departures(self, lambda: self._controller is not None and self._controller.connected)
        self._discovery: NodeDiscovery | None = None
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Serve the node's endpoint, join the controller or peers."""
        tune_malloc()
        _tracing.enable_from_environment()
        server = grpc.aio.server(options=_transport.server_options(self.config.max_message_size))
        server.add_generic_rpc_handlers((_frames.connect_handler(self._serve_link),))
        self._health = Health(server, NODE_SERVICE)
        self.address = _transport.bind(
            server, self.config.listen, f"node {self.name!r}", self.config.secret, self.config.tls
        )
        self.addresses = _interfaces.reachable_addresses(self.address, self.config.interfaces)
        self.address = self.addresses[0]
        await start_server(server)
        self._server = server
        _logs.running.append(self.name)
        await self._health.serving()
        try:
            await self._join()
        except BaseException:
            # Nothing of a node that failed to start outlives it: not its server, nor a dial.
            await self.stop(0.0)
            raise

    async def _join(self) -> None:
        self.membership.upsert(self.node_id, self.name, self.address, self.registry.names(), SELF)
        self.registry.add_listener(self._registry_changed)
        if self.config.controller is not None:
            await self.join_controller(self.config.controller)
        # The constructor's promise: each configured peer is linked, or its first attempt failed.
        first_tries = [self.loop.create_future() for _ in self.config.peers]
        for address, tried in zip(self.config.peers, first_tries, strict=True):
            self.spawn(self._keep_linked(address, tried))
        if first_tries:
            await asyncio.wait(first_tries, timeout=self.config.connect_timeout)
        if self.config.discovery:
            from ._discovering import NodeDiscovery

            self._discovery = NodeDiscovery(self)
            await self._discovery.start()

    async def join_controller(self, address: str) -> None:
        """Join the controller at ``address`` and keep joined.

        Raises:
            ControllerUnavailable: no controller answered within ``connect_timeout``.
            NameTaken: the controller refused this node's process name.
        """
        from ._controller_client import ControllerClient

        client = ControllerClient(self, address, on_lost=self.departures.controller_lost)
        self._controller = client
        try:
            await client.start()
        except BaseException:
            if self._controller is client:
                self._controller = None
            raise

    async def leave_controller(self) -> None:
        """Stop following the controller (it said goodbye); members it alone vouched for leave."""
        client, self._controller = self._controller, None
        if client is not None:
            await client.stop()
        self.membership.replace_source(CONTROLLER, [])

    async def stop(self, grace: float) -> None:
        """Leave the mesh: let running calls finish for up to ``grace`` seconds, then close all."""
        if self.stopping:
            return
        self.stopping = True
        if self._health is not None:
            await self._health.stopping()
        self.registry.remove_listener(self._registry_changed)
        Schedule.cancel_all_local(self)
        self._end_streams()
        if self._discovery is not None:
            await self._discovery.stop()
        if self._controller is not None:
            await self._controller.stop()
        deadline = self.loop.time() + grace
        while self._busy() and self.loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for link in list(self._all_links):
            link.close(f"node {self.name!r} stopped", NodeStopped(f"node {self.name!r} stopped before the reply came"))
        tasks = list(self._dials.values()) + list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(link.wait_closed() for link in list(self._all_links)), return_exceptions=True)
        self.handoff.close(f"node {self.name!r} is stopped; no more calls can be made through it")
        self.deadlines.close()
        # Every gRPC operation of this node ends before its loop does: the cancelled dials close their
        # channels, the closed links theirs (tasks spawned as they closed), and calls handed off last fail.
        ending = tasks + list(self._background)
        if ending:
            await asyncio.wait(ending, timeout=STOP_TASKS_WAIT)
        for channel in list(self._channels.values()):
            await channel.close(None)
        self._channels.clear()
        # A stopped node holds no gRPC object: a program that keeps it (a traceback's frames can) must not
        # keep gRPC's poller thread running into the interpreter's finalization, where it can crash.
        server, self._server = self._server, None
        if server is not None:
            await close_server(server, None, self.address)
        _transport.remove_unix_socket(self.address)
        self.workers.shutdown(wait=False, cancel_futures=True)
        if self.name in _logs.running:
            _logs.running.remove(self.name)

    def _end_streams(self) -> None:
        """End the STREAM calls this node made, now: only their consumers end them, so they would hold the
        stop for all its grace. Each callee is told to stop (its generator is closed, on a peer or here);
        each consumer gets the items already here, then :class:`NodeStopped`."""
        error = NodeStopped(f"node {self.name!r} stopped before the stream ended")
        for link in self._all_links:
            for call_id, inlet in list(link.result_inlets.items()):
                inlet.finish(error)
                link.forget_call(call_id, tell_peer=True)
        for reply in list(self.local_streams):
            reply.finish(error)
            reply.forget()

    def _busy(self) -> bool:
        """Calls in flight on a link, or NO_RETURN calls still queued or running in the worker pool."""
        return self.workers.unfinished > 0 or any(link.in_flight for link in self._all_links)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = self.loop.create_task(coro)
        keep_from_program_end(task)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _member_added(self, member: Member) -> None:
        if member.node_id != self.node_id:
            logger.info("node %s: member %s joined", self.name, member.name)
            self.member_hooks.fire(self.member_hooks.join, member.name, self)

    def _member_removed(self, member: Member) -> None:
        logger.info("node %s: member %s left", self.name, member.name)
        if not self.stopping:
            self.member_hooks.fire(self.member_hooks.leave, member.name, self)

    def _registry_changed(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._announce_callbacks)

    def _announce_callbacks(self) -> None:
        if self.stopping:
            return
        self.callbacks_announced += 1
        names = self.registry.names()
        self.membership.upsert(self.node_id, self.name, self.address, names, SELF)
        for link in self.links.values():
            link.send_offer(names)
        if self._controller is not None:
            self._controller.announce()

    async def wait_process(self, name: str) -> None:
        await self.membership.wait_for(lambda: self.membership.by_name(name) is not None)

    async def wait_function(self, name: str) -> None:
        await self.membership.wait_for(lambda: bool(self.offers.providers(name)))

    def statistics(self) -> dict[str, int]:
        """Counters of this node: members, links, calls in flight, calls waiting on their timeout, worker
        threads. Safe from any thread."""
        return {
            "members": len(self.membership.members()),
            "links": len(self.links),
            # list() copies the set in one step, while the loop thread may be adding or dropping links.
            "in_flight": sum(link.in_flight for link in list(self._all_links)),
            "timeouts": len(self.deadlines),
            "workers": self.workers.threads,
        }

    def snapshot(self) -> dict[str, Any]:
        """What the ``mesh.stats`` callback answers: this node (name, id, address, callbacks, uptime), its
        links (peer, bytes in and out, calls in flight) and its call statistics (:meth:`NodeStats.snapshot`).
        On the loop."""
        live = sorted(self.links.values(), key=lambda link: link.peer_name)
        links = [
            {
                "peer": link.peer_name,
                "peer_id": link.peer_id,
                "bytes_in": link.bytes_in,
                "bytes_out": link.bytes_out,
                "in_flight": link.in_flight,
            }
            for link in live
        ]
        callbacks = [name for name in self.registry.names() if not name.startswith(INTERNAL_PREFIX)]
        return {
            "name": self.name,
            "node_id": self.node_id,
            "address": self.address,
            "callbacks": callbacks,
            "links": links,
            "in_flight": sum(link.in_flight for link in live) + self.local_calls,
            "workers": self.workers.threads,
            **self.stats.snapshot(),
        }


def _nobody() -> Any:
    return None


def member_list(members: Iterable[Member]) -> list[dict[str, Any]]:
    """Members as plain dicts, for display."""
    return [
        {
            "name": m.name,
            "node_id": m.node_id,
            "address": m.address,
            "callbacks": sorted(name for name in m.callbacks if not name.startswith(INTERNAL_PREFIX)),
        }
        for m in sorted(members, key=lambda m: m.name)
    ]
