"""``g.call.fn(*args, **kwargs) & MODIFIER``: building a remote call and carrying it out.

In sync code the modifiers that wait (FG, PERIOD, BROADCAST with results) block the calling thread;
in async code (a running event loop in this thread) FG and BROADCAST with results return an
awaitable instead, and PERIOD its handle at once (awaitable too). BG and NO_RETURN never wait.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
import warnings
from collections.abc import Callable, Generator, Sequence
from typing import Any

from ..errors import UsageError
from ..membership._membership import Member
from ..node._broadcast import broadcast_results
from ..node._caller import Caller
from ..node._flow import DEFAULT_WINDOW, DEFAULT_WINDOW_BYTES
from ..node._handoff import running_loop
from ..node._node import Node
from ..node._outgoing import UNANSWERED_FAILED
from ..node._reply import SENT, AsyncResult, CallTarget, LoopReply, ReplyFuture
from ..node._schedule import ScheduledCall
from ..node._streams import StreamReply
from ..wire._codec import RUN_HERE
from ._await_source import modifier_after_await
from ._modifiers import BG, BROADCAST, FG, NO_RETURN, PERIOD, STREAM, Modifier
from ._session import Session, in_async_code, run_blocking
from ._stream import Stream
from ._times import Duration, Moment, Until

logger = logging.getLogger("mesh")


# ``& FG`` used as a class: the modifiers are frozen, so one instance with the defaults serves every call.
_PLAIN: dict[type[Modifier], Modifier] = {FG: FG(), BG: BG(), NO_RETURN: NO_RETURN(), STREAM: STREAM()}


class CallRoot:
    """``g.call``: attribute access names a callback of the mesh.

    The :class:`RemoteCallable` of a name is kept in the instance's ``__dict__`` once made, so the
    next ``g.call.fn`` is a plain attribute lookup: reaching ``__getattr__`` would cost a failed
    lookup first, on every call (bench/README.md has the figure).
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> RemoteCallable:
        if name.startswith("__"):
            raise AttributeError(name)
        remote = RemoteCallable(self._session, name)
        self.__dict__[name] = remote
        return remote


class RemoteCallable:
    """``g.call.fn``: call it with the arguments for the remote callback.

    Its attributes are the dotted names under it: ``g.call.kv.set`` calls the callback ``kv.set``
    (kept once made, as :class:`CallRoot` keeps its names), while ``g.call.kv(...)`` calls ``kv``.
    """

    __slots__ = ("_name", "_session", "_under")

    def __init__(self, session: Session, name: str) -> None:
        self._session = session
        self._name = name
        self._under: dict[str, RemoteCallable] = {}

    def __getattr__(self, part: str) -> RemoteCallable:
        if part.startswith("__"):
            raise AttributeError(part)
        remote = self._under.get(part)
        if remote is None:
            remote = self._under[part] = RemoteCallable(self._session, f"{self._name}.{part}")
        return remote

    def __call__(self, *args: Any, **kwargs: Any) -> RemoteCall:
        return RemoteCall(self._session, self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<remote callback {self._name!r}>"

    def __and__(self, modifier: object) -> Any:
        shown = getattr(modifier, "__name__", None) or type(modifier).__name__
        raise UsageError(
            f"g.call.{self._name} & {shown}: the callback is not called yet; add the parentheses with its "
            f"arguments: g.call.{self._name}() & {shown}"
        )


class RemoteCall:
    """A call of a remote callback with its arguments, carried out by ``& MODIFIER`` or a method.

    One that is never carried out warns (:class:`RuntimeWarning`) when it is garbage-collected, as an
    un-awaited coroutine does: ``g.call.fn()`` alone does nothing.
    """

    __slots__ = ("_args", "_kwargs", "_made", "_session", "name")

    def __init__(self, session: Session, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._session = session
        self.name = name
        self._args = args
        self._kwargs = kwargs
        self._made = False

    def __repr__(self) -> str:
        return f"<remote call {self.name}(...)>"

    def __del__(self) -> None:
        if not self._made:
            warnings.warn(
                f"remote call {self.name}(...) was never made: give it a modifier, "
                f"such as g.call.{self.name}(...) & FG",
                RuntimeWarning,
                stacklevel=1,
            )

    def __and__(self, modifier: Modifier | type[Modifier]) -> Any:
        if isinstance(modifier, type) and issubclass(modifier, Modifier):
            modifier = _PLAIN.get(modifier) or modifier()
        if not isinstance(modifier, Modifier):
            return NotImplemented
        return self._apply(modifier, in_async_code())

    def __await__(self) -> Generator[Any, None, Any]:
        self._made = True
        modifier = modifier_after_await(sys._getframe(1))
        if isinstance(modifier, type) and issubclass(modifier, Modifier):
            modifier = modifier()
        outcome = self._apply(modifier if isinstance(modifier, Modifier) else FG(), True)
        if asyncio.iscoroutine(outcome) or isinstance(outcome, asyncio.Future | ScheduledCall):
            outcome = yield from outcome.__await__()
        return outcome if modifier is None else _Settled(outcome)

    def fg(self, timeout: Until | None = None, receiver: str | None = None, answer: Caller | None = None) -> Any:
        """Same as ``& FG(timeout=timeout, receiver=receiver, answer=answer)``."""
        return self._apply(FG(timeout, receiver, answer), in_async_code())

    def bg(
        self, timeout: Until | None = None, eta: Until = 0.0, receiver: str | None = None, return_result: bool = True
    ) -> AsyncResult | None:
        """Same as ``& BG(timeout=timeout, eta=eta, receiver=receiver, return_result=return_result)``."""
        result: AsyncResult | None = self._apply(BG(timeout, eta, receiver, return_result), in_async_code())
        return result

    def no_return(self, eta: Until = 0.0, receiver: str | None = None) -> None:
        """Same as ``& NO_RETURN(eta=eta, receiver=receiver)``."""
        self._apply(NO_RETURN(eta, receiver), in_async_code())

    def period(
        self,
        at_time: Moment | Sequence[Moment] | None = None,
        period: Duration | None = None,
        receiver: str | None = None,
    ) -> Any:
        """Same as ``& PERIOD(at_time=at_time, period=period, receiver=receiver)``."""
        return self._apply(PERIOD(at_time, period, receiver), in_async_code())

    def broadcast(
        self,
        timeout: Until | None = None,
        eta: Until = 0.0,
        return_result: bool = False,
        receivers: Sequence[str] | None = None,
    ) -> Any:
        """Same as ``& BROADCAST(timeout=timeout, eta=eta, return_result=return_result, receivers=receivers)``."""
        return self._apply(BROADCAST(timeout, eta, return_result, receivers), in_async_code())

    def stream(
        self,
        timeout: Until | None = None,
        receiver: str | None = None,
        window: int = DEFAULT_WINDOW,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
    ) -> Stream:
        """Same as ``& STREAM(timeout=timeout, receiver=receiver, window=window, window_bytes=window_bytes)``."""
        result: Stream = self._apply(STREAM(timeout, receiver, window, window_bytes), in_async_code())
        return result

    # ------------------------------------------------------------------ carrying out

    def _apply(self, modifier: Modifier, async_face: bool) -> Any:
        self._made = True
        carry_out = _CARRY_OUT.get(type(modifier))
        if carry_out is None:
            raise UsageError(f"unknown modifier {modifier!r}")
        self._session.stats.sent(self.name, type(modifier).__name__)
        return carry_out(self, modifier, async_face)


# ---------------------------------------------------------------------- one function a modifier
# Each is given the call, its modifier, and whether the caller's face is async (it awaits).


def _fg(call: RemoteCall, fg: FG, async_face: bool) -> Any:
    """The value: returned here, or by the awaitable an async caller gets."""
    node = call._session.ready_node()
    if not async_face:
        node = node or call._session.wait_node()
        return node.place_call(
            call.name, call._args, call._kwargs, fg.timeout, ReplyFuture, fg.receiver, fg.answer
        ).outcome()
    if node is not None and running_loop() is node.loop:
        return node.call(call.name, call._args, call._kwargs, fg.timeout, fg.receiver, fg.answer)
    return _fg_elsewhere(call, fg)


async def _fg_elsewhere(call: RemoteCall, fg: FG) -> Any:
    """FG awaited on another loop than the node's, or before the node has started."""
    node = await call._session.wait_node_async()
    if running_loop() is node.loop:
        return await node.call(call.name, call._args, call._kwargs, fg.timeout, fg.receiver, fg.answer)
    reply = node.place_call(call.name, call._args, call._kwargs, fg.timeout, ReplyFuture, fg.receiver, fg.answer)
    return await reply.outcome_async()


def _bg(call: RemoteCall, bg: BG, async_face: bool) -> AsyncResult | None:
    """Its :class:`AsyncResult`, at once; None with ``return_result=False``, a NO_RETURN call."""
    if not bg.return_result:
        _no_return(call, NO_RETURN(bg.eta, bg.receiver), async_face)
        return None
    session = call._session
    node = session.ready_node()
    if node is not None and not bg.eta:
        return node.place_call(call.name, call._args, call._kwargs, bg.timeout, AsyncResult, bg.receiver)
    result = AsyncResult(session.loop, call.name, bg.timeout)
    session.portal.submit(result.settle(_start_later(call, bg.eta, bg.receiver, result)))
    return result


def _no_return(call: RemoteCall, no_return: NO_RETURN, async_face: bool) -> None:
    session, name, args, kwargs = call._session, call.name, call._args, call._kwargs
    receiver = no_return.receiver
    node = session.ready_node()
    if node is None:
        _fire_later(session, no_return.eta, name, lambda n: _send_no_return(n, name, args, kwargs, receiver))
        return
    member, encoded = node.prepare(name, args, kwargs, receiver)
    node.refuse_streamed(encoded, "NO_RETURN")
    # The function, not a bound method: a method bound per call is one more object per queued call
    # for the garbage collector to walk over again and again in a flood.
    send = Node.send_no_return
    fallback = receiver is None
    if no_return.eta:
        node.handoff(node.loop.call_later, no_return.eta, send, node, member, name, args, kwargs, encoded, fallback)
    else:
        node.handoff(send, node, member, name, args, kwargs, encoded, fallback)


def _period(call: RemoteCall, period: PERIOD, async_face: bool) -> Any:
    """The :class:`ScheduledCall`: once the callee has it in sync code, at once in async code."""
    session = call._session
    _check_offered(session.ready_node(), call.name, period.receiver)
    # In async code the handle comes back at once, as NO_RETURN's None and BG's future do, and the
    # schedule is set up in the background: `await handle` waits for the callee's yes.
    handle = ScheduledCall(call.name, background=async_face)
    setup = handle.watch(_schedule(call, handle, period))
    if not async_face:
        return run_blocking(session.portal, setup)
    handle.setting_up = session.portal.submit(setup)
    return handle


def _broadcast(call: RemoteCall, broadcast: BROADCAST, async_face: bool) -> Any:
    """``{node name: result}`` (awaitable in async code) with ``return_result``, else None."""
    session, name, args, kwargs = call._session, call.name, call._args, call._kwargs
    receivers = broadcast.receivers
    node = session.ready_node()
    _check_offered(node, name, *receivers or ())
    if not broadcast.return_result:
        if node is not None and not broadcast.eta:
            node.handoff(Node.broadcast_no_return, node, name, args, kwargs, receivers)
        else:
            _fire_later(session, broadcast.eta, name, lambda n: n.broadcast_no_return(name, args, kwargs, receivers))
        return None
    if async_face:
        return _broadcast_async(call, broadcast)
    if broadcast.eta:
        time.sleep(broadcast.eta)
    members, replies = _start_broadcast(session.wait_node(), call, broadcast, ReplyFuture)
    try:
        for reply in replies:
            reply.wait(None)
    except BaseException:
        _abandon(replies)
        raise
    return _broadcast_outcome(members, replies)


async def _broadcast_async(call: RemoteCall, broadcast: BROADCAST) -> dict[str, Any]:
    if broadcast.eta:
        await asyncio.sleep(broadcast.eta)
    node = await call._session.wait_node_async()
    target = LoopReply if running_loop() is node.loop else ReplyFuture
    members, replies = _start_broadcast(node, call, broadcast, target)
    try:
        for reply in replies:
            await reply.wait_async(None)
    except BaseException:
        _abandon(replies)
        raise
    return _broadcast_outcome(members, replies)


def _stream(call: RemoteCall, stream: STREAM, async_face: bool) -> Stream:
    """The :class:`Stream` of the items, at once; the call is on its way (or starts with the node)."""
    session = call._session
    node = session.ready_node()
    if node is None and not async_face:
        node = session.wait_node()
    make = functools.partial(StreamReply, window=stream.window, window_bytes=stream.window_bytes)
    if node is not None:
        reply = node.place_call(call.name, call._args, call._kwargs, None, make, stream.receiver)
    else:
        reply = make(session.loop, call.name, None)
        session.portal.submit(reply.settle(_start_later(call, 0.0, stream.receiver, reply)))
    return Stream(reply, stream.timeout)


_CARRY_OUT: dict[type[Modifier], Callable[[RemoteCall, Any, bool], Any]] = {
    FG: _fg,
    BG: _bg,
    NO_RETURN: _no_return,
    PERIOD: _period,
    BROADCAST: _broadcast,
    STREAM: _stream,
}


# ---------------------------------------------------------------------- what they share


def _check_offered(node: Node | None, name: str, *receivers: str | None) -> None:
    """Fail at once (once the node has started) when nobody offers ``name``, or one of ``receivers`` does not.

    Raises:
        UnknownCallback: as it says.
    """
    if node is None:
        return
    named = [receiver for receiver in receivers if receiver is not None]
    for receiver in named:
        node.receiver_member(receiver, name)
    if not named and not node.offers.providers(name):
        raise node.offers.unknown(name)


def _start_broadcast(
    node: Node, call: RemoteCall, broadcast: BROADCAST, target: type[LoopReply] | type[ReplyFuture]
) -> tuple[Sequence[Member], list[Any]]:
    """Hand every provider's call to the loop at once; their members, and the targets that get the outcomes."""
    members, encoded = node.broadcast_plan(call.name, call._args, call._kwargs, broadcast.receivers)
    replies = []
    for member in members:
        reply = target(node.loop, call.name, broadcast.timeout)
        outgoing = RUN_HERE if member.node_id == node.node_id else encoded
        # fallback=False: each provider is called once, none in another's place.
        node.handoff(Node.start_call, node, member, call.name, call._args, call._kwargs, outgoing, reply, False)
        replies.append(reply)
    return members, replies


def _broadcast_outcome(members: Sequence[Member], replies: list[Any]) -> dict[str, Any]:
    """``{node name: result}`` of a BROADCAST whose calls have all ended (see :func:`broadcast_results`)."""
    outcomes: list[Any] = []
    for reply in replies:
        try:
            outcomes.append(reply.value())
        except Exception as exc:
            outcomes.append(exc)
    return broadcast_results(members, outcomes)


def _abandon(replies: list[Any]) -> None:
    for reply in replies:
        reply.abandon()


async def _start_later(call: RemoteCall, eta: float, receiver: str | None, target: CallTarget) -> Any:
    """Start the call (to ``receiver``), with ``target``, once ``eta`` seconds have passed and the node
    has started."""
    if eta:
        await asyncio.sleep(eta)
    node = await call._session.started_node()
    member, encoded = node.prepare(call.name, call._args, call._kwargs, receiver)
    node.start_call(member, call.name, call._args, call._kwargs, encoded, target, receiver is None)
    return SENT


def _fire_later(session: Session, delay: float, name: str, send: Callable[[Node], None]) -> None:
    """``send(node)`` on the node's loop once ``delay`` seconds have passed and the node has started; a
    failure is logged, as nobody waits for the call."""

    async def later() -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            send(await session.started_node())
        except Exception as exc:
            logger.warning(UNANSWERED_FAILED, name, exc)

    session.portal.submit(later())


def _send_no_return(node: Node, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], receiver: str | None) -> None:
    member, encoded = node.prepare(name, args, kwargs, receiver)
    node.send_no_return(member, name, args, kwargs, encoded, receiver is None)


async def _schedule(call: RemoteCall, handle: ScheduledCall, period: PERIOD) -> None:
    node = await call._session.started_node()
    if not handle.cancelled:
        times = list(period.times)
        link, key = await node.schedule(handle.name, call._args, call._kwargs, times, period.period, period.receiver)
        handle.bind(node, link, key)


class _Settled:
    """What ``await g.call.fn()`` gives back when an ``& MODIFIER`` follows: the outcome, waiting for it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __and__(self, modifier: Any) -> Any:
        return self.value
