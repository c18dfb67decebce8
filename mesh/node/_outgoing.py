"""Outgoing calls: a :class:`Node` picks the node to call and sends the call; its target gets the reply."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..errors import BadArguments, NodeStopped, PeerUnavailable, UnknownCallback, UsageError
from ..membership._membership import Member, Membership
from ..wire import _tracing
from ..wire._codec import RUN_HERE, Encoded, Outgoing, encode_args
from ..wire._frames import Buffers
from ..wire._link import PeerLink
from ..wire._outcome import value_of
from ..wire._proto import mesh_pb2 as pb
from ._caller import Caller
from ._choice import RANDOM, least_busy
from ._deadlines import Deadlines
from ._handoff import Handoff
from ._inject import with_global
from ._offers import Offers
from ._registry import CallbackRegistry, LocalCallback
from ._reply import SENT, CallTarget, LoopReply, expire
from ._schedule import Schedule
from ._streams import LinkOutlet, LocalOutlet, Streamed, StreamReply, local_arguments, produce_async, produce_sync
from ._workers import WorkerPool

if TYPE_CHECKING:
    from ._config import NodeConfig

logger = logging.getLogger("mesh")

# The log line of a failed call whose result nobody waits for (NO_RETURN, BROADCAST without results).
UNANSWERED_FAILED = "call of %r whose result nobody waits for failed: %r"

TargetT = TypeVar("TargetT", bound=CallTarget)


class Calling:
    """The calling part of a node (a mixin of :class:`~mesh.node._node.Node`, so that the call path costs no
    extra attribute lookup); it runs on the node's loop, but for :meth:`prepare`."""

    name: str
    node_id: str
    config: NodeConfig
    loop: asyncio.AbstractEventLoop
    registry: CallbackRegistry
    membership: Membership
    offers: Offers
    deadlines: Deadlines
    links: dict[str, PeerLink]
    stopping: bool
    workers: WorkerPool
    # Calls of this node's own callbacks running here for this node: its "calls in flight" when it is
    # one of the providers to choose from.
    local_calls: int
    # The STREAM calls of this node's own callbacks that it is taking: a stop ends them (see Node.stop).
    local_streams: set[StreamReply]
    # ``_expire`` bound once (by the node): the deadline of every call with a timeout refers to it.
    _expire_call: Callable[[CallTarget], None]
    # The node's Global, for the callbacks that ask for it (mesh.node._inject).
    owner: Callable[[], Any]

    handoff: Handoff

    if TYPE_CHECKING:

        def spawn(self, coro: Any) -> asyncio.Task[Any]: ...

        async def link_to(self, member: Member) -> PeerLink: ...

        def _local(self, name: str) -> LocalCallback: ...

        async def _run_local(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...

        def run_callback(
            self, callback: LocalCallback, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> asyncio.Future[Any]: ...

    def prepare(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], receiver: str | None = None
    ) -> tuple[Member, Outgoing]:
        """Choose the node to call (the one named ``receiver``, else :meth:`choose`) and encode the
        arguments (:data:`RUN_HERE` when it is this node). Safe from any thread.

        Raises:
            UnknownCallback: no node offers ``name``, or ``receiver`` is not in the mesh or does not offer it.
            SerializationError: the arguments cannot be pickled.
        """
        if self.stopping:
            raise NodeStopped(f"node {self.name!r} is stopped; no more calls can be made through it")
        member = self.choose(name) if receiver is None else self.receiver_member(receiver, name)
        if member.node_id == self.node_id:
            return member, RUN_HERE
        encoded = self.encode_args(name, args, kwargs)
        if _tracing.tracer is not None:
            encoded.trace = _tracing.ClientTrace(name, member.name)
        return member, encoded

    def choose(self, name: str) -> Member:
        """The node offering ``name`` with the fewest calls in flight on its link (ties at random), or one at
        random (``config.choice``). Any thread.

        Raises:
            UnknownCallback: no node offers ``name``.
        """
        found = self.membership.providers(name)
        if len(found) == 1:
            return found[0]
        if found:
            if self.config.choice == RANDOM:
                return random.choice(found)
            return least_busy(found, self.links, self.node_id, self.local_calls)
        member = self.offers.own(name)
        if member is None:
            raise self.offers.unknown(name)
        return member

    def receiver_member(self, receiver: str, name: str) -> Member:
        """The member named ``receiver``, which offers ``name``. Any thread.

        Raises:
            UnknownCallback: ``receiver`` is not in the mesh, or does not offer ``name``.
        """
        member = self.membership.by_name(receiver)
        if member is None:
            raise UnknownCallback(name, receiver=receiver, absent=True)
        if name in member.callbacks or (member.node_id == self.node_id and self.offers.own(name) is not None):
            return member
        raise UnknownCallback(name, offered=member.callbacks, receiver=receiver)

    def encode_args(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Encoded:
        return encode_args(args, kwargs, self.config.max_message_size, name)

    @staticmethod
    def refuse_streamed(encoded: Outgoing, how: str) -> None:
        """Refuse ``stream(...)`` arguments in a call made ``how`` (NO_RETURN, PERIOD, BROADCAST): only a call
        whose end the caller hears of (FG, BG, STREAM) knows when to stop sending them.

        Raises:
            UsageError: as it says.
        """
        if encoded is not RUN_HERE and encoded.streams:
            raise UsageError(f"stream(...) arguments need a call that answers (FG, BG or STREAM), not {how}")

    async def call(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        receiver: str | None = None,
        answer: Caller | None = None,
    ) -> Any:
        """Call ``name`` on one node that offers it (the one named ``receiver``) and return its result
        (awaited on the loop); with ``answer``, that node sends it to ``answer``'s node too."""
        member, encoded = self.prepare(name, args, kwargs, receiver)
        reply = LoopReply(self.loop, name, timeout)
        if answer is not None:
            reply.answer = self.answer_of(answer)
        if encoded is not RUN_HERE and encoded.trace is not None:
            encoded.trace.end_with(reply)
        # Sent at once, not through the hand-off, which would only run it at once here too.
        self.start_call(member, name, args, kwargs, encoded, reply, receiver is None)
        return await reply.outcome_async()

    def place_call(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        target: Callable[[asyncio.AbstractEventLoop, str, float | None], TargetT],
        receiver: str | None = None,
        answer: Caller | None = None,
    ) -> TargetT:
        """Pick the node (the one named ``receiver``) and encode the call in this thread, and hand it to the
        loop (:meth:`start_call`); the returned ``target`` gets its outcome (and, with ``answer``, the
        callee's node sends it to ``answer``'s node too). Safe from any thread.

        Raises:
            UnknownCallback: no node offers ``name``, or ``receiver`` is not in the mesh or does not offer it.
            SerializationError: the arguments cannot be pickled.
            NodeStopped: the node is stopped.
        """
        member, encoded = self.prepare(name, args, kwargs, receiver)
        reply = target(self.loop, name, timeout)
        if answer is not None:
            reply.answer = self.answer_of(answer)
        if encoded is not RUN_HERE and encoded.trace is not None:
            encoded.trace.end_with(reply)
        self.handoff(Calling.start_call, self, member, name, args, kwargs, encoded, reply, receiver is None)
        return reply

    def start_call(
        self,
        member: Member,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        encoded: Outgoing,
        reply: CallTarget,
        fallback: bool = True,
    ) -> None:
        """Send a call to ``member`` (chosen by :meth:`prepare`); ``reply`` gets its outcome. On the loop.
        Without ``fallback`` (a named receiver, a BROADCAST) no other node is called in its place.

        The one send of every face: ``reply`` is a :class:`~mesh.node._reply.ReplyFuture` for a thread (or
        another loop) that waits, a :class:`~mesh.node._reply.LoopReply` for a coroutine on this loop. With a
        live link this is one envelope and no Task: the link's reader sets ``reply``. Else the call goes
        :meth:`the long way <long_way>` in a task of its own.
        """
        if reply.done():
            return
        link = self.links.get(member.node_id)
        if encoded is RUN_HERE or link is None or link.closed:
            self.spawn(reply.settle(self.long_way(reply, member, name, args, kwargs, encoded, fallback)))
        else:
            self._send(link, name, encoded, reply)

    def _send(self, link: PeerLink, name: str, encoded: Encoded, reply: CallTarget) -> None:
        streams = encoded.streams
        try:
            reply.call_id, _ = link.send_call(
                name,
                encoded,
                reply.flags,
                reply.timeout,
                waiter=reply,
                window=reply.window,
                streamed_args=len(streams),
                answer=reply.answer,
            )
        except Exception as exc:
            reply.set_exception(exc)
            return
        reply.link = link
        if reply.timeout:
            reply.deadline = self.deadlines.add(reply.timeout, reply, self._expire_call)
        if reply.flags:
            link.result_inlets[reply.call_id] = cast(StreamReply, reply)
        if streams:
            self._send_streamed_args(link, reply.call_id, name, streams)

    def _send_streamed_args(self, link: PeerLink, call_id: int, name: str, streams: Sequence[Streamed]) -> None:
        """Start pumping the items of a call's streamed arguments to ``link``'s peer, as it grants credit."""
        link.arg_outlets[call_id] = [
            streamed.start(
                LinkOutlet(self.handoff, link, call_id, slot, name, (streamed.window, streamed.window_bytes)), self.loop
            )
            for slot, streamed in enumerate(streams, 1)
        ]

    def answer_of(self, caller: Caller) -> tuple[str, int]:
        """What a call sends for ``FG(answer=caller)`` (which checked that it is a :class:`Caller`): the
        caller's node id and call id.

        Raises:
            UsageError: this node does not serve ``caller``'s call.
        """
        if caller.served_by != self.node_id:
            raise UsageError(
                f"answer= takes a Caller of a call this node ({self.name!r}) serves; that one came to another node"
            )
        return caller.node_id, caller.call_id

    def on_answer(self, via: str, call_id: int, result: pb.Result, buffers: Buffers) -> None:
        """A peer's Answer for this node's call ``call_id`` to ``via``: its result, if it still waits."""
        link = self.links.get(via)
        if link is not None:
            link.take_answer(call_id, result, buffers)

    def _expire(self, reply: CallTarget) -> None:
        """The one expirer of every call's timeout (see mesh.node._deadlines). On the loop."""
        expire(reply, self.name)

    async def long_way(
        self,
        reply: CallTarget | None,
        member: Member,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        encoded: Outgoing,
        fallback: bool = True,
    ) -> Any:
        """A call that no live link carries: dial ``member`` (or, when it cannot be reached and
        ``fallback`` holds, another node offering ``name``: nothing was sent), or run it here.

        Returns the value of a call run here, else :data:`~mesh.node._reply.SENT`: ``reply`` gets the
        outcome from the link. A call with no ``reply`` is a NO_RETURN call.
        """
        if encoded is not RUN_HERE:
            link = await self.reach(member, name, fallback)
            if link is not None:
                if reply is None:
                    link.send_call(name, encoded, pb.CALL_FLAG_NO_RETURN, None)
                else:
                    self._send(link, name, encoded, reply)
                return SENT
        if reply is not None and reply.timeout:
            reply.deadline = self.deadlines.add(reply.timeout, reply, self._expire_call)
        if reply is not None and reply.flags:
            await self._stream_here(cast(StreamReply, reply), name, args, kwargs)
            return SENT
        return await self._run_local(name, args, kwargs)

    async def _stream_here(self, reply: StreamReply, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Run a STREAM call on this node: its items go to ``reply`` as it takes them."""
        callback = self._local(name)
        assert reply.window is not None
        outlet = reply.local = LocalOutlet(reply, reply.window[0])
        args, kwargs, arg_outlets = local_arguments(args, kwargs, self.loop)
        if callback.global_param is not None:
            kwargs = with_global(kwargs, callback.global_param, self.owner)
        self.local_streams.add(reply)
        try:
            if callback.is_async or callback.yields_async:
                await produce_async(callback.fn, args, kwargs, outlet, name)
            else:
                await self.loop.run_in_executor(self.workers, produce_sync, callback.fn, args, kwargs, outlet, name)
        except TypeError as exc:
            problem = callback.arguments_error(args, kwargs)
            reply.finish(BadArguments(problem) if problem is not None else exc)
        except Exception as exc:
            reply.finish(exc)
        else:
            reply.finish()
        finally:
            # Stopped early (the caller closed the stream, the node stops): the producer stops too.
            outlet.close()
            self.local_streams.discard(reply)
            for each in arg_outlets:
                each.close()

    async def reach(self, member: Member, name: str, fallback: bool = True) -> PeerLink | None:
        """A link to ``member``, dialled if need be; with ``fallback``, to another node offering ``name``
        when ``member`` cannot be reached. None means "run it here": this node is the one.

        Raises:
            PeerUnavailable: no node offering ``name`` could be reached.
        """
        if member.node_id == self.node_id:
            return None
        if not fallback:
            return await self.link_to(member)
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
        self,
        member: Member,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        encoded: Outgoing,
        fallback: bool = True,
    ) -> None:
        """Send a call whose result nobody waits for; failures are logged."""
        link = self.links.get(member.node_id)
        if encoded is not RUN_HERE and link is not None and not link.closed:
            link.send_call(name, encoded, pb.CALL_FLAG_NO_RETURN, None)
            return
        self.spawn(self.logged(self.long_way(None, member, name, args, kwargs, encoded, fallback), name))

    async def logged(self, coro: Any, name: str) -> None:
        try:
            await coro
        except Exception as exc:
            logger.warning(UNANSWERED_FAILED, name, exc)

    async def schedule(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        at_time: list[float],
        period: float | None,
        receiver: str | None = None,
    ) -> tuple[PeerLink | None, int]:
        """Have one node offering ``name`` (the one named ``receiver``) run it at ``at_time`` or every
        ``period`` seconds.

        Returns the link and call id that identify the schedule (None link: kept on this node).
        """
        member, encoded = self.prepare(name, args, kwargs, receiver)
        self.refuse_streamed(encoded, "PERIOD")
        plan = pb.Schedule(at_time=at_time, period=period or 0.0)
        if member.node_id == self.node_id:
            callback = self._local(name)
            schedule = Schedule(self, callback, args, kwargs, plan)
            schedule.start()
            return None, schedule.key
        link = await self.reach(member, name, receiver is None)
        if link is None:
            return await self.schedule(name, args, kwargs, at_time, period)
        assert encoded is not RUN_HERE
        call_id, future = link.send_call(name, encoded, 0, None, plan)
        assert future is not None
        try:
            value_of(await future, name, link.peer_name)
        finally:
            if encoded.trace is not None:
                encoded.trace.end()
        return link, call_id

    def cancel_schedule(self, link: PeerLink | None, key: int) -> None:
        if link is None:
            Schedule.cancel_local(self, key)
        else:
            link.forget_call(key, tell_peer=True)
