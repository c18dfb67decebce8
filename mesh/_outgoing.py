"""Outgoing calls: a :class:`~mesh._node.Node` picks the node to call, sends the call and awaits its reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._codec import RUN_HERE, Encoded, Outgoing, encode_args
from ._deadlines import Deadlines
from ._handoff import ReplyFuture
from ._link import PeerLink
from ._membership import Member, Membership
from ._offers import Offers
from ._outcome import value_of
from ._proto import mesh_pb2 as pb
from ._registry import CallbackRegistry, LocalCallback
from ._schedule import Schedule
from ._wire import Reply
from ._workers import WorkerPool
from .errors import BroadcastError, CallTimeout, NodeStopped, PeerUnavailable, UnknownCallback

if TYPE_CHECKING:
    from ._config import NodeConfig

logger = logging.getLogger("mesh")


class Calling:
    """The calling part of a node (a mixin of :class:`~mesh._node.Node`, so that the call path costs no
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

    if TYPE_CHECKING:

        def spawn(self, coro: Any) -> asyncio.Task[Any]: ...

        async def link_to(self, member: Member) -> PeerLink: ...

        def _local(self, name: str) -> LocalCallback: ...

        async def _run_local(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...

        def run_callback(
            self, callback: LocalCallback, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> asyncio.Future[Any]: ...

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
