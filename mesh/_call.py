"""``g.call.fn(*args, **kwargs) & MODIFIER``: building a remote call and carrying it out.

In sync code the modifiers that wait (FG, PERIOD, BROADCAST with results) block the calling thread;
in async code (a running event loop in this thread) FG and BROADCAST with results return an
awaitable instead, and PERIOD its handle at once (awaitable too). BG and NO_RETURN never wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import warnings
from collections.abc import Awaitable, Coroutine, Generator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._await_source import modifier_after_await
from ._codec import RUN_HERE
from ._handoff import ReplyFuture
from ._handoff import running_loop as _running_loop
from ._loop_thread import Portal
from ._modifiers import BG, BROADCAST, FG, NO_RETURN, PERIOD, Modifier
from ._node import Node
from ._outgoing import broadcast_results
from ._schedule import ScheduledCall
from ._times import Duration, Moment, Until
from .errors import CallCancelled, CallTimeout, UsageError

ReplyT = TypeVar("ReplyT", bound=ReplyFuture)

if TYPE_CHECKING:
    from ._global import Global


def in_async_code() -> bool:
    """True when this thread runs an event loop, so waiting must be done with ``await``."""
    return _running_loop() is not None


def run_blocking(portal: Portal, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on the node's loop from another thread and wait for its value."""
    future = portal.submit(coro)
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        raise CallCancelled("the call was cancelled") from None
    except BaseException:
        future.cancel()
        raise


async def run_on(portal: Portal, coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro`` on the node's loop from whatever loop runs the caller."""
    if _running_loop() is portal.loop:
        return await coro
    return await asyncio.wrap_future(portal.submit(coro))


# ``& FG`` used as a class: the modifiers are frozen, so one instance with the defaults serves every call.
_PLAIN: dict[type[Modifier], Modifier] = {FG: FG(), BG: BG(), NO_RETURN: NO_RETURN()}


class Caller:
    """``g.call``: attribute access names a callback of the mesh.

    The :class:`RemoteCallable` of a name is kept in the instance's ``__dict__`` once made, so the
    next ``g.call.fn`` is a plain attribute lookup: reaching ``__getattr__`` would cost a failed
    lookup first, on every call (bench/README.md has the figure).
    """

    def __init__(self, owner: Global) -> None:
        self._global = owner

    def __getattr__(self, name: str) -> RemoteCallable:
        if name.startswith("__"):
            raise AttributeError(name)
        remote = RemoteCallable(self._global, name)
        self.__dict__[name] = remote
        return remote


class RemoteCallable:
    """``g.call.fn``: call it with the arguments for the remote callback."""

    __slots__ = ("_global", "_name")

    def __init__(self, owner: Global, name: str) -> None:
        self._global = owner
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> RemoteCall:
        return RemoteCall(self._global, self._name, args, kwargs)

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

    __slots__ = ("_args", "_global", "_kwargs", "_made", "name")

    def __init__(self, owner: Global, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._global = owner
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

    def fg(self, timeout: Until | None = None) -> Any:
        """Same as ``& FG(timeout=timeout)``."""
        return self._apply(FG(timeout), in_async_code())

    def bg(self, timeout: Until | None = None, eta: Until = 0.0) -> AsyncResult:
        """Same as ``& BG(timeout=timeout, eta=eta)``."""
        result: AsyncResult = self._apply(BG(timeout, eta), in_async_code())
        return result

    def no_return(self, eta: Until = 0.0) -> None:
        """Same as ``& NO_RETURN(eta=eta)``."""
        self._apply(NO_RETURN(eta), in_async_code())

    def period(self, at_time: Moment | Sequence[Moment] | None = None, period: Duration | None = None) -> Any:
        """Same as ``& PERIOD(at_time=at_time, period=period)``."""
        return self._apply(PERIOD(at_time, period), in_async_code())

    def broadcast(self, timeout: Until | None = None, eta: Until = 0.0, return_result: bool = False) -> Any:
        """Same as ``& BROADCAST(timeout=timeout, eta=eta, return_result=return_result)``."""
        return self._apply(BROADCAST(timeout, eta, return_result), in_async_code())

    # ------------------------------------------------------------------ carrying out

    def _apply(self, modifier: Modifier, async_face: bool) -> Any:
        self._made = True
        owner = self._global
        portal = owner._portal
        loop = portal.loop
        node = owner._ready_node()
        name, args, kwargs = self.name, self._args, self._kwargs

        if isinstance(modifier, FG):
            if node is not None and async_face and _running_loop() is loop:
                return node.call(name, args, kwargs, modifier.timeout)
            if node is None or async_face:
                return run_on(portal, owner._with_node(lambda n: n.call(name, args, kwargs, modifier.timeout)))
            reply = _start(node, name, args, kwargs, modifier.timeout, ReplyFuture)
            try:
                return reply.value()
            except BaseException:
                reply.abandon()
                raise

        if isinstance(modifier, BG):
            if node is not None and not modifier.eta:
                return _start(node, name, args, kwargs, modifier.timeout, AsyncResult)
            result = AsyncResult(loop, name, modifier.timeout)
            coro = owner._with_node(lambda n: n.call(name, args, kwargs, modifier.timeout))
            portal.submit(result.settle(_after(modifier.eta, coro)))
            return result

        if isinstance(modifier, NO_RETURN):
            if node is not None:
                member, encoded = node.prepare(name, args, kwargs)
                # The function, not a bound method: a method bound per call is one more object per
                # queued call for the garbage collector to walk over again and again in a flood.
                send = Node.send_no_return
                if modifier.eta:
                    node.handoff(loop.call_later, modifier.eta, send, node, member, name, args, kwargs, encoded)
                else:
                    node.handoff(send, node, member, name, args, kwargs, encoded)
            else:
                portal.submit(owner._with_node(lambda n: n.logged(_no_return_later(n, self), name)))
            return None

        if isinstance(modifier, PERIOD):
            if node is not None and not node.offers.providers(name):
                raise node.offers.unknown(name)
            # In async code the handle comes back at once, as NO_RETURN's None and BG's future do, and
            # the schedule is set up in the background: `await handle` waits for the callee's yes.
            handle = ScheduledCall(name, background=async_face)
            times, period = list(modifier.times), modifier.period
            setup = handle.watch(owner._with_node(lambda n: _schedule(handle, n, args, kwargs, times, period)))
            if not async_face:
                return run_blocking(portal, setup)
            handle.setting_up = portal.submit(setup)
            return handle

        if isinstance(modifier, BROADCAST):
            timeout, wanted = modifier.timeout, modifier.return_result
            if node is not None and not node.offers.providers(name):
                raise node.offers.unknown(name)
            if wanted and node is not None and not async_face and not modifier.eta:
                return _broadcast(node, name, args, kwargs, timeout)
            if not wanted:
                if node is not None and not modifier.eta:
                    node.handoff(Node.broadcast_no_return, node, name, args, kwargs)
                    return None
                fire = owner._with_node(lambda n: n.logged(_broadcast_no_return_later(n, name, args, kwargs), name))
                portal.submit(_after(modifier.eta, fire))
                return None
            coro = _after(modifier.eta, owner._with_node(lambda n: n.broadcast(name, args, kwargs, timeout)))
            return run_on(portal, coro) if async_face else run_blocking(portal, coro)

        raise UsageError(f"unknown modifier {modifier!r}")


def _start(
    node: Node,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
    future: type[ReplyT],
) -> ReplyT:
    """Encode a call in this thread and hand it to the node's loop; the future (of type ``future``) gets its reply."""
    member, encoded = node.prepare(name, args, kwargs)
    reply = future(node.loop, name, timeout)
    node.handoff(Node.start_call, node, member, name, args, kwargs, encoded, reply)
    return reply


def _broadcast(
    node: Node, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
) -> dict[str, Any]:
    """BROADCAST with results from a thread other than the loop: every call sent in one hand-off."""
    members, encoded = node.broadcast_plan(name, args, kwargs)
    replies = []
    for member in members:
        reply = ReplyFuture(node.loop, name, timeout)
        outgoing = RUN_HERE if member.node_id == node.node_id else encoded
        # fallback=False: each provider is called once, none in another's place.
        node.handoff(Node.start_call, node, member, name, args, kwargs, outgoing, reply, False)
        replies.append(reply)
    outcomes: list[Any] = []
    try:
        for reply in replies:
            try:
                outcomes.append(reply.value())
            except Exception as exc:
                outcomes.append(exc)
    except BaseException:
        for reply in replies:
            reply.abandon()
        raise
    return broadcast_results(members, outcomes)


async def _after(delay: float, coro: Awaitable[Any]) -> Any:
    if delay:
        await asyncio.sleep(delay)
    return await coro


async def _broadcast_no_return_later(node: Node, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    node.broadcast_no_return(name, args, kwargs)


async def _no_return_later(node: Node, call: RemoteCall) -> None:
    member, encoded = node.prepare(call.name, call._args, call._kwargs)
    node.send_no_return(member, call.name, call._args, call._kwargs, encoded)


async def _schedule(
    handle: ScheduledCall,
    node: Node,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    times: list[float],
    period: float | None,
) -> None:
    if not handle.cancelled:
        link, key = await node.schedule(handle.name, args, kwargs, times, period)
        handle.bind(node, link, key)


class _Settled:
    """What ``await g.call.fn()`` gives back when an ``& MODIFIER`` follows: the outcome, waiting for it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __and__(self, modifier: Any) -> Any:
        return self.value


class AsyncResult(ReplyFuture):
    """The future of a BG call.

    ``get(timeout)`` waits in sync code, ``await get_async(timeout)`` (or ``await result``) in async
    code; ``done()`` and ``cancel()`` as for any future. (It is the reply's own future, not a wrapper
    around one: one object less for every call in flight.)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<AsyncResult of {self.name!r}: {state}>"

    def cancel(self) -> bool:
        """Cancel the call (the callee is asked to stop it). False if it had already finished."""
        if not self.done():
            self.abandon()
        return self.cancelled()

    def get(self, timeout: float | None = None) -> Any:
        """Wait up to ``timeout`` seconds (None: no limit) and return the result, or raise its error.

        Raises:
            CallTimeout: no result within ``timeout``; the call goes on.
            CallCancelled: the call was cancelled.
            UsageError: called on the node's own event loop, where it would deadlock.
        """
        if _running_loop() is self.loop:
            raise UsageError("AsyncResult.get() would block the node's event loop; use await result.get_async()")
        return self.value(timeout)

    async def get_async(self, timeout: float | None = None) -> Any:
        """Like :meth:`get`, without blocking the event loop."""
        if not self.done():
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            self.add_done_callback(lambda _: _wake_soon(loop, done))
            try:
                await asyncio.wait_for(done, timeout)
            except asyncio.TimeoutError:
                raise CallTimeout(f"result of {self.name!r} not ready within {timeout} s") from None
        return self.value(0)

    def __await__(self) -> Generator[Any, None, Any]:
        return self.get_async().__await__()


def _wake_soon(loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> None:
    """Resolve ``done`` on its own loop, from whatever thread finished the call."""
    if _running_loop() is loop:
        _resolve(done)
        return
    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        loop.call_soon_threadsafe(_resolve, done)


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
