"""The node runtime: one asyncio loop serving a gRPC endpoint, holding peer links, running callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from . import _handshake, _interfaces, _transport, _wire
from ._closing import close_server
from ._codec import RUN_HERE, Encoded, Outgoing, decode_args, encode, encode_args
from ._deadlines import Deadlines
from ._departures import Departures
from ._handoff import Handoff, ReplyFuture
from ._link import PeerLink
from ._membership import CONTROLLER, LINK, SELF, Member, Membership
from ._memory import tune_malloc
from ._offers import Offers
from ._outcome import error_reply, exception_reply, value_of
from ._proto import mesh_pb2 as pb
from ._registry import REGISTRY, CallbackRegistry, LocalCallback
from ._retry import Backoff
from ._schedule import Schedule
from ._security import TLSConfig
from ._serve import serve_async, serve_sync
from ._wire import Buffers, Reply
from ._workers import Job, WorkerPool
from .errors import (
    AuthenticationError,
    BadArguments,
    BroadcastError,
    CallTimeout,
    NodeStopped,
    PeerUnavailable,
    SerializationError,
    UnknownCallback,
    UsageError,
)

logger = logging.getLogger("mesh")

# 2: out-of-band buffers travel as the frame's blobs. 3: a large frame's blobs follow it as messages of their own.
PROTOCOL_VERSION = 3
# How long a stopping node waits for its cancelled tasks (dials, closing channels) to end.
STOP_TASKS_WAIT = 5.0
# Redialling a configured peer (``peers=``) that cannot be reached.
PEER_RETRY_FIRST = 0.1
PEER_RETRY_MOST = 1.0


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Settings of one node; see :class:`mesh.Global` for their meaning."""

    name: str
    listen: str
    mesh_name: str = "default"
    controller: str | None = None
    peers: tuple[str, ...] = ()
    max_message_size: int = _transport.DEFAULT_MAX_MESSAGE_SIZE
    max_workers: int = 32
    connect_timeout: float = 30.0
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    secret: bytes | None = field(default=None, repr=False)
    tls: TLSConfig | None = None
    discovery: bool = False
    interfaces: tuple[str, ...] | None = None
    # False: discover without being announced (``mesh ls``).
    announce: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise UsageError("process_name must not be empty")
        if self.max_message_size <= 0:
            raise UsageError(f"max_message_size must be positive, not {self.max_message_size!r}")
        if self.max_workers <= 0:
            raise UsageError(f"max_workers must be positive, not {self.max_workers!r}")
        if self.connect_timeout <= 0:
            raise UsageError(f"connect_timeout must be positive, not {self.connect_timeout!r}")
        if self.secret is not None and (not isinstance(self.secret, bytes) or not self.secret):
            raise UsageError("secret must be non-empty bytes or None")
        if self.tls is not None and not isinstance(self.tls, TLSConfig):
            raise UsageError(f"tls must be a TLSConfig or None, not {type(self.tls).__name__}")
        if self.discovery:
            from .discovery import check_announceable

            check_announceable(process_name=self.name, mesh_name=self.mesh_name)
        if self.interfaces is not None:
            if not self.discovery:
                raise UsageError("interfaces= chooses where discovery runs: it needs discovery=True")
            _interfaces.resolve(self.interfaces)
        if self.discovery and _transport.unix_path(self.listen) is not None:
            raise UsageError(
                f"discovery announces a TCP address, but listen={self.listen!r} is a UNIX socket; "
                "listen on host:port (port 0 picks one)"
            )


class Node:
    """One process's membership of the mesh. All methods but :meth:`prepare` run on ``self.loop``."""

    def __init__(self, config: NodeConfig, registry: CallbackRegistry = REGISTRY) -> None:
        self.config = config
        self.name = config.name
        self.node_id = config.node_id
        self.registry = registry
        self.address = ""
        # Every address peers can dial, best first; ``address`` is the first.
        self.addresses: list[str] = []
        self.loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self.handoff = Handoff(self.loop)
        self.deadlines = Deadlines(self.loop)
        self.membership = Membership(on_removed=self._member_removed)
        self.offers = Offers(self.membership, registry, self.node_id)
        self.links: dict[str, PeerLink] = {}
        self.stopping = False
        self._all_links: set[PeerLink] = set()
        self._dials: dict[str, asyncio.Task[PeerLink]] = {}
        self._channels: dict[PeerLink, grpc.aio.Channel] = {}
        self._workers = WorkerPool(config.max_workers, f"mesh-{config.name}", self.loop)
        self._server: grpc.aio.Server | None = None
        self._controller: Any = None
        self.departures = Departures(self, lambda: self._controller is not None and self._controller.connected)
        self._discovery: Any = None
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Serve the node's endpoint, join the controller or peers."""
        tune_malloc()
        server = grpc.aio.server(options=_transport.server_options(self.config.max_message_size))
        server.add_generic_rpc_handlers((_wire.connect_handler(self._serve_link),))
        self.address = _transport.bind(
            server, self.config.listen, f"node {self.name!r}", self.config.secret, self.config.tls
        )
        self.addresses = _interfaces.reachable_addresses(self.address, self.config.interfaces)
        self.address = self.addresses[0]
        await server.start()
        self._server = server
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
            from .discovery import NodeDiscovery

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
        self.registry.remove_listener(self._registry_changed)
        Schedule.cancel_all_local(self)
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
        if self._server is not None:
            await close_server(self._server, None, self.address)
        _transport.remove_unix_socket(self.address)
        self._workers.shutdown(wait=False, cancel_futures=True)

    def _busy(self) -> bool:
        """Calls in flight on a link, or NO_RETURN calls still queued or running in the worker pool."""
        return self._workers.unfinished > 0 or any(link.in_flight for link in self._all_links)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = self.loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ------------------------------------------------------------------ calling

    def prepare(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Member, Outgoing]:
        """Choose the node to call and encode the arguments (:data:`RUN_HERE` when it is this node). Safe
        from any thread.

        Raises:
            UnknownCallback: no node offers ``name``.
            SerializationError: the arguments cannot be pickled.
        """
        if self.stopping:
            raise NodeStopped(f"node {self.name!r} is stopped; no more calls can be made through it")
        member = self.membership.pick(name) or self.offers.own(name)
        if member is None:
            raise self.offers.unknown(name)
        if member.node_id == self.node_id:
            return member, RUN_HERE
        return member, self.encode_args(name, args, kwargs)

    def encode_args(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Encoded:
        return encode_args(args, kwargs, self.config.max_message_size, name)

    async def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None) -> Any:
        """Call ``name`` on one node that offers it and return its result."""
        member, encoded = self.prepare(name, args, kwargs)
        return await self.invoke(member, name, args, kwargs, encoded, timeout)

    async def invoke(
        self,
        member: Member,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        encoded: Outgoing,
        timeout: float | None,
        fallback: bool = True,
    ) -> Any:
        """Call ``name`` on ``member`` (chosen by :meth:`prepare`) and return its result.

        If ``member`` cannot be reached and ``fallback`` holds, another node offering ``name`` is
        tried: nothing was sent.
        """
        if member.node_id == self.node_id:
            return await self._with_timeout(self._run_local(name, args, kwargs), name, timeout)
        assert encoded is not RUN_HERE
        link = await (self._link_or_alternative(member, name) if fallback else self.link_to(member))
        if link is None:
            return await self.invoke(self.node_as_member(), name, args, kwargs, RUN_HERE, timeout)
        return await self.await_reply(link, name, encoded, timeout)

    def node_as_member(self) -> Member:
        member = self.membership.get(self.node_id)
        assert member is not None
        return member

    async def await_reply(
        self,
        link: PeerLink,
        name: str,
        encoded: Encoded,
        timeout: float | None,
    ) -> Any:
        call_id, future = link.send_call(name, encoded, 0, timeout)
        assert future is not None
        deadline = None
        if timeout:
            peer = link.peer_name
            deadline = self.deadlines.add(timeout, future, lambda late: _expire(late, name, peer, timeout))
        try:
            reply: Reply = await future
        except BaseException:
            link.forget_call(call_id, tell_peer=True)
            raise
        finally:
            if deadline is not None:
                deadline.pop(future, None)
        return value_of(reply, name, link.peer_name)

    def start_call(
        self,
        member: Member,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        encoded: Outgoing,
        reply: ReplyFuture,
        fallback: bool = True,
    ) -> None:
        """Send a call for a caller in another thread (through :attr:`handoff`); ``reply`` gets its outcome.

        With a live link this is one envelope and no Task: the link's reader sets ``reply``. Else the
        call goes the long way (:meth:`invoke`: dial, this node itself, or, with ``fallback``, another
        provider; BROADCAST turns ``fallback`` off).
        """
        if reply.done():
            return
        link = self.links.get(member.node_id)
        if encoded is RUN_HERE or link is None or link.closed:
            self.spawn(reply.settle(self.invoke(member, name, args, kwargs, encoded, reply.timeout, fallback)))
            return
        try:
            reply.call_id, _ = link.send_call(name, encoded, 0, reply.timeout, waiter=reply)
        except Exception as exc:
            reply.set_exception(exc)
            return
        reply.link = link
        if reply.timeout:
            reply.deadline = self.deadlines.add(reply.timeout, reply, _expire_reply)

    async def _with_timeout(self, coro: Any, name: str, timeout: float | None) -> Any:
        if not timeout:
            return await coro
        try:
            return await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise CallTimeout(f"callback {name!r} on node {self.name!r} did not finish within {timeout} s") from None

    async def _link_or_alternative(self, member: Member, name: str) -> PeerLink | None:
        """A link to ``member``, else to another provider of ``name``; None means "run it here"."""
        tried: set[str] = set()
        while True:
            try:
                return await self.link_to(member)
            except PeerUnavailable:
                tried.add(member.node_id)
                others = [m for m in self.membership.providers(name) if m.node_id not in tried]
                if not others:
                    raise
                member = others[0]
                if member.node_id == self.node_id:
                    return None

    def send_no_return(
        self, member: Member, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], encoded: Outgoing
    ) -> None:
        """Send a call whose result nobody waits for; failures are logged."""
        if member.node_id == self.node_id:
            self.spawn(self.logged(self._run_local(name, args, kwargs), name))
            return
        assert encoded is not RUN_HERE
        link = self.links.get(member.node_id)
        if link is not None and not link.closed:
            link.send_call(name, encoded, pb.CALL_FLAG_NO_RETURN, None)
            return
        self.spawn(self.logged(self._send_no_return_later(member, name, encoded), name))

    async def _send_no_return_later(self, member: Member, name: str, encoded: Encoded) -> None:
        link = await self._link_or_alternative(member, name)
        if link is None:
            logger.warning("NO_RETURN call of %r dropped: no reachable node offers it", name)
            return
        link.send_call(name, encoded, pb.CALL_FLAG_NO_RETURN, None)

    async def logged(self, coro: Any, name: str) -> None:
        try:
            await coro
        except Exception as exc:
            logger.warning("call of %r whose result nobody waits for failed: %r", name, exc)

    async def schedule(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], at_time: list[float], period: float | None
    ) -> tuple[PeerLink | None, int]:
        """Have one node offering ``name`` run it at ``at_time`` or every ``period`` seconds.

        Returns the link and call id that identify the schedule (None link: kept on this node).
        """
        member, encoded = self.prepare(name, args, kwargs)
        plan = pb.Schedule(at_time=at_time, period=period or 0.0)
        if member.node_id == self.node_id:
            callback = self._local(name)
            schedule = Schedule(self, callback, args, kwargs, plan)
            schedule.start()
            return None, schedule.key
        assert encoded is not RUN_HERE
        link = await self._link_or_alternative(member, name)
        if link is None:
            return await self.schedule(name, args, kwargs, at_time, period)
        call_id, future = link.send_call(name, encoded, 0, None, plan)
        assert future is not None
        value_of(await future, name, link.peer_name)
        return link, call_id

    def cancel_schedule(self, link: PeerLink | None, key: int) -> None:
        if link is None:
            Schedule.cancel_local(self, key)
        else:
            link.forget_call(key, tell_peer=True)

    async def broadcast(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
    ) -> dict[str, Any]:
        """Call ``name`` on every node that offers it; ``{node name: result}``."""
        members, encoded = self.broadcast_plan(name, args, kwargs)
        outcomes = await asyncio.gather(
            *(self.invoke(m, name, args, kwargs, encoded, timeout, fallback=False) for m in members),
            return_exceptions=True,
        )
        return broadcast_results(members, outcomes)

    def broadcast_no_return(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Send a call of ``name`` to every node that offers it, for no result; failures are logged.

        (The caller checked that some node offers ``name``; the last of them may have left since.)
        """
        try:
            members, encoded = self.broadcast_plan(name, args, kwargs)
        except UnknownCallback:
            logger.warning("BROADCAST of %r dropped: no node offers it any more", name)
            return
        for member in members:
            self.send_no_return(member, name, args, kwargs, RUN_HERE if member.node_id == self.node_id else encoded)

    def broadcast_plan(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Sequence[Member], Outgoing]:
        """The nodes that offer ``name``, and the arguments encoded once for all of them but this one.

        Raises:
            UnknownCallback: no node offers ``name``.
        """
        members = self.offers.providers(name)
        if not members:
            raise self.offers.unknown(name)
        only_here = len(members) == 1 and members[0].node_id == self.node_id
        return members, RUN_HERE if only_here else self.encode_args(name, args, kwargs)

    # ------------------------------------------------------------------ local execution

    def _local(self, name: str) -> LocalCallback:
        callback = self.registry.get(name)
        if callback is None:
            raise self.offers.unknown(name, f"node {self.name!r} no longer offers it")
        return callback

    async def _run_local(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        callback = self._local(name)
        try:
            return await self.run_callback(callback, args, kwargs)
        except TypeError as exc:
            problem = callback.arguments_error(args, kwargs)
            if problem is not None:
                raise BadArguments(problem) from exc
            raise

    def run_callback(
        self, callback: LocalCallback, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[Any]:
        """Start ``callback`` (async on the loop, sync in a worker thread); the future has its value."""
        if callback.is_async:
            return self.loop.create_task(callback.fn(*args, **kwargs))
        return self.loop.run_in_executor(self._workers, lambda: callback.fn(*args, **kwargs))

    # ------------------------------------------------------------------ serving calls

    def on_call(self, link: PeerLink, call_id: int, call: pb.Call, buffers: Buffers) -> None:
        """Serve call ``call_id`` that ``link``'s peer sent (``buffers``: its out-of-band blobs). On the loop.

        A stopping node and an unknown callback get an error reply (a NO_RETURN call: a log line); a
        PERIOD call starts a :class:`Schedule`; an inline sync callback runs here, an async one as a
        task, a sync one in a worker thread. The outcome goes back through :meth:`_send_outcome`.
        """
        flags = call.flags
        no_return = bool(flags & pb.CALL_FLAG_NO_RETURN)
        if self.stopping:
            if not no_return:
                link.send_error(call_id, error_reply(pb.ERROR_KIND_STOPPING, f"node {self.name!r} is stopping"))
            return
        # Each read of a string field builds a new str: read the name once.
        name = call.name
        callback = self.registry.get(name)
        if callback is None:
            if no_return:
                logger.warning("node %s: %s called unknown callback %r", self.name, link.peer_name, name)
            else:
                link.send_error(call_id, error_reply(pb.ERROR_KIND_UNKNOWN_CALLBACK, name))
            return
        # The arguments as plain bytes: no job or task keeps the received message alive.
        data, dill = call.args, bool(flags & pb.CALL_FLAG_DILL)
        if call.HasField("schedule"):
            self._start_schedule(link, call_id, callback, data, dill, buffers, call.schedule)
            return
        max_size = None if no_return else self.config.max_message_size
        if callback.inline and not callback.is_async:
            self._send_outcome(link, call_id, name, no_return, serve_sync(callback, data, dill, buffers, max_size))
        elif callback.is_async:
            task = self.loop.create_task(serve_async(callback, data, dill, buffers, max_size))
            link.incoming[call_id] = task
            task.add_done_callback(lambda done: self._reply(link, call_id, name, no_return, done))
        elif no_return:
            # Nothing goes back to the loop (a failure is logged by the worker); stop() waits for the pool.
            self._workers.start_job(_SyncServing(link, call_id, callback, data, dill, buffers, None))
        else:
            link.incoming[call_id] = self._workers.start_job(
                _SyncServing(link, call_id, callback, data, dill, buffers, max_size)
            )

    def _reply(
        self,
        link: PeerLink,
        call_id: int,
        name: str,
        no_return: bool,
        done: asyncio.Future[Any] | Job,
    ) -> None:
        """Answer call ``call_id`` of ``link`` with the outcome of ``done``, the task or worker job that
        served it, once it is done. On the loop."""
        link.incoming.pop(call_id, None)
        self._send_outcome(link, call_id, name, no_return, _outcome_of(done))

    def _send_outcome(
        self, link: PeerLink, call_id: int, name: str, no_return: bool, outcome: Encoded | pb.Error | None
    ) -> None:
        """Send ``outcome`` (an encoded result or an error) of call ``call_id`` of ``name`` to ``link``'s peer.

        A NO_RETURN call sends nothing and logs its failure (None: a NO_RETURN call that served well).
        An outcome larger than the peer takes is replaced by an error that says so.
        """
        if no_return or outcome is None:
            if isinstance(outcome, pb.Error):
                _log_no_return_failure(self.name, link, outcome)
            return
        if isinstance(outcome, pb.Error):
            too_large = link.too_large("exception", name, outcome.ByteSize())
        else:
            too_large = link.too_large("result", name, outcome.size)
        if too_large is not None:
            outcome = exception_reply(too_large)
        if isinstance(outcome, pb.Error):
            link.send_error(call_id, outcome)
        else:
            link.send_result(call_id, outcome)

    def _start_schedule(
        self,
        link: PeerLink,
        call_id: int,
        callback: LocalCallback,
        data: bytes,
        dill: bool,
        buffers: Buffers,
        plan: pb.Schedule,
    ) -> None:
        try:
            args, kwargs = decode_args(data, buffers, dill, callback.name)
        except SerializationError as exc:
            link.send_error(call_id, exception_reply(exc))
            return
        problem = callback.arguments_error(args, kwargs)
        if problem is not None:
            link.send_error(call_id, error_reply(pb.ERROR_KIND_BAD_ARGUMENTS, problem))
            return
        schedule = Schedule(self, callback, args, kwargs, plan, link=link, key=call_id)
        schedule.start()
        link.send_result(call_id, encode(None, self.config.max_message_size, "schedule acknowledgement"))

    def on_cancel(self, link: PeerLink, call_id: int) -> None:
        schedule = link.schedules.pop(call_id, None)
        if schedule is not None:
            schedule.cancel()
        task = link.incoming.pop(call_id, None)
        if task is not None:
            task.cancel()

    # ------------------------------------------------------------------ links

    def hello(self, nonce: bytes, proof: bytes = b"") -> pb.Hello:
        """This node's Hello, the first message of a link's handshake (:mod:`mesh._handshake`): who it
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
        while True:
            channel = _transport.open_channel(address, self.config.max_message_size, self.config.tls, attempt_ms)
            try:
                stream = _wire.open_stream(channel)
                hello = await _handshake.as_dialler(self, stream, peer_name)
                break
            except grpc.aio.AioRpcError as exc:
                await channel.close(None)
                attempt_ms = next(slower, 0) if _transport.slow_to_connect(exc) else 0
                if not attempt_ms:
                    raise _handshake.rpc_error(exc, peer_name, self.config.tls is not None) from None
            except BaseException:
                await channel.close(None)
                raise
        link = PeerLink(self, hello, stream, dialled_by=self.node_id, on_close=stream.cancel)
        self._channels[link] = channel
        self.register_link(link, hello)
        self.spawn(link.run())
        return link

    async def _serve_link(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        """The server side of a peer link: one ``Connect`` stream."""
        hello = await _handshake.as_listener(self, context)
        link = PeerLink(self, hello, context, dialled_by=hello.node_id)
        self.register_link(link, hello)
        await link.run()

    def register_link(self, link: PeerLink, hello: pb.Hello) -> None:
        """Make ``link`` the link to its peer, unless a link dialled by the smaller node id exists."""
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

    def _member_removed(self, member: Member) -> None:
        logger.debug("node %s: member %s left", self.name, member.name)

    def _registry_changed(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._announce_callbacks)

    def _announce_callbacks(self) -> None:
        if self.stopping:
            return
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
        """Counters of this node: members, links, calls in flight, worker threads. Safe from any thread."""
        return {
            "members": len(self.membership.members()),
            "links": len(self.links),
            # list() copies the set in one step, while the loop thread may be adding or dropping links.
            "in_flight": sum(link.in_flight for link in list(self._all_links)),
            "workers": self._workers.threads,
        }


def broadcast_results(members: Sequence[Member], outcomes: Sequence[Any]) -> dict[str, Any]:
    """``{node name: result}`` of a BROADCAST; :class:`BroadcastError` with results and errors if any failed."""
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}
    for member, outcome in zip(members, outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
        if isinstance(outcome, BaseException):
            errors[member.name] = outcome
        else:
            results[member.name] = outcome
    if errors:
        raise BroadcastError(results, errors)
    return results


def _outcome_of(done: asyncio.Future[Any] | Job) -> Encoded | pb.Error | None:
    """What a finished serving job has to send: its encoded result or error reply; None if cancelled."""
    if done.cancelled():
        return None
    exc = done.exception()
    outcome: Encoded | pb.Error | None = exception_reply(exc) if exc is not None else done.result()
    return outcome


def _log_no_return_failure(node_name: str, link: PeerLink, error: pb.Error) -> None:
    logger.warning(
        "node %s: NO_RETURN call from %s failed: %s: %s", node_name, link.peer_name, error.type, error.message
    )


class _SyncServing(Job):
    """A peer's call of a sync callback, run in a worker thread.

    One object per queued call holds all it needs (no argument tuples, no bound methods, no protobuf
    message): a flood of calls queued at once is what the garbage collector walks over again and again.
    """

    __slots__ = ("buffers", "call_id", "callback", "data", "dill", "link", "max_size")

    def __init__(
        self,
        link: PeerLink,
        call_id: int,
        callback: LocalCallback,
        data: bytes,
        dill: bool,
        buffers: Buffers,
        max_size: int | None,
    ) -> None:
        Job.__init__(self, link.node._workers)
        self.link = link
        self.call_id = call_id
        self.callback = callback
        self.data = data
        self.dill = dill
        self.buffers = buffers
        # None: NO_RETURN, nobody waits for the result.
        self.max_size = max_size

    def __repr__(self) -> str:
        return f"<call {self.call_id} of {self.callback.name!r} from {self.link.peer_name!r}>"

    def _call(self) -> Encoded | pb.Error | None:
        return serve_sync(self.callback, self.data, self.dill, self.buffers, self.max_size)

    def _then(self) -> None:
        if self.max_size is not None:
            # Handed back from the worker thread: the replies of a burst of calls wake the loop once.
            try:  # noqa: SIM105 (contextlib.suppress is an object and two calls, on every served call)
                self.link.node.handoff(_SyncServing._reply, self)
            except NodeStopped:
                pass  # the node stopped, and the link with it: no one to answer
            return
        if self._value is None and self._error is None:
            return  # a NO_RETURN call that ran well: nothing to report
        outcome = _outcome_of(self)
        if isinstance(outcome, pb.Error):
            _log_no_return_failure(self.link.node.name, self.link, outcome)

    def _reply(self) -> None:
        """Answer the call with this job's outcome; handed to the loop by the worker thread that ran it."""
        self.link.node._reply(self.link, self.call_id, self.callback.name, False, self)


def _expire(future: asyncio.Future[Any], name: str, peer: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(CallTimeout(f"callback {name!r} on node {peer!r} did not answer within {timeout} s"))


def _expire_reply(reply: ReplyFuture) -> None:
    link = reply.link
    if not reply.done() and link is not None:
        link.forget_call(reply.call_id, tell_peer=True)
        reply.set_exception(
            CallTimeout(f"callback {reply.name!r} on node {link.peer_name!r} did not answer within {reply.timeout} s")
        )


def member_list(members: Iterable[Member]) -> list[dict[str, Any]]:
    """Members as plain dicts, for display."""
    return [
        {"name": m.name, "node_id": m.node_id, "address": m.address, "callbacks": sorted(m.callbacks)}
        for m in sorted(members, key=lambda m: m.name)
    ]
