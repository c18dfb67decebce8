"""Streams of a call: results as a callback yields them (STREAM), and arguments as the caller's
iterable yields them (``stream(...)``).

Each stream has a sending end, an :class:`Outlet` (credit from :mod:`mesh.node._flow`, and where its
items go: a peer's link, or an :class:`~mesh.node._flow.Inlet` in this process) and a receiving end,
an :class:`~mesh.node._flow.Inlet`. A *pump* moves a producer's items into an outlet as credit
allows: :func:`pump` in a thread for a sync iterator, :func:`pump_async` on a loop for an async one;
either closes its producer (a generator's ``finally`` runs) once the receiver is gone.

The caller's end of a STREAM call is a :class:`StreamReply`, the call's target: its items come from
the link (or a local outlet), and the Result or Error that ends the call ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import CallCancelled, SerializationError, UsageError
from ..wire._codec import decode, encode, streamed_slot, wrap_large_bytes
from ..wire._link import PeerLink
from ..wire._outcome import exception_reply, value_of
from ..wire._proto import mesh_pb2 as pb
from ._flow import DEFAULT_WINDOW, DEFAULT_WINDOW_BYTES, CreditGate, Inlet
from ._handoff import running_loop
from ._reply import CallTarget

if TYPE_CHECKING:
    from ._deadlines import Bucket

# Credit for the bytes of a stream within this process: its items are not encoded, so only the
# item window counts.
_NO_BYTE_LIMIT = 2**62


class Outlet(CreditGate):
    """The sending end of a stream: the receiver's credit, and :meth:`send` for each item."""

    __slots__ = ()

    def send(self, item: Any) -> None:
        """Send ``item``, for which :meth:`acquire` took credit. The producer's thread or loop."""
        raise NotImplementedError

    def end(self, error: BaseException | None) -> None:
        """The producer is done: it ran out of items, or raised ``error``."""
        raise NotImplementedError


class LinkOutlet(Outlet):
    """An outlet to a peer: each item is encoded here and handed to the node's loop for the link."""

    __slots__ = ("call_id", "callback", "handoff", "link", "slot")

    def __init__(
        self,
        handoff: Callable[..., None],
        link: PeerLink,
        call_id: int,
        slot: int,
        callback: str,
        window: tuple[int, int],
    ) -> None:
        super().__init__(*window)
        self.handoff = handoff
        self.link = link
        self.call_id = call_id
        self.slot = slot
        self.callback = callback

    def send(self, item: Any) -> None:
        what = "stream item" if self.slot == 0 else "streamed argument item"
        encoded = encode(wrap_large_bytes(item), self.link.peer_limit, what, self.callback)
        self.spend(encoded.size)
        self.handoff(PeerLink.send_item, self.link, self.call_id, self.slot, encoded, self.callback)

    def end(self, error: BaseException | None) -> None:
        # A result stream (slot 0) ends with the call's reply; a closed one has nobody to tell.
        if self.slot and not self.closed:
            reply = None if error is None else exception_reply(error)
            self.handoff(PeerLink.send_stream_end, self.link, self.call_id, self.slot, reply)


class LocalOutlet(Outlet):
    """An outlet to an inlet in this process: items are handed over as they are, not encoded."""

    __slots__ = ("inlet",)

    def __init__(self, inlet: Inlet, window: int) -> None:
        super().__init__(window, _NO_BYTE_LIMIT)
        self.inlet = inlet

    def send(self, item: Any) -> None:
        self.inlet.push(item)

    def end(self, error: BaseException | None) -> None:
        if error is None:
            self.inlet.finish()
        else:
            self.inlet.finish(error)


def local_stream(window: int = DEFAULT_WINDOW) -> tuple[Inlet, Outlet]:
    """An inlet and the outlet that feeds it, both in this process."""
    outlet: LocalOutlet

    def credit(items: int, nbytes: int) -> None:
        outlet.grant(items, 0)

    inlet = Inlet(credit, window, _NO_BYTE_LIMIT)
    outlet = LocalOutlet(inlet, window)
    return inlet, outlet


# ---------------------------------------------------------------------- pumps


def pump(items: Iterator[Any], outlet: Outlet) -> None:
    """Send the items of ``items`` through ``outlet`` as its credit allows, in this thread; return
    when they run out or the receiver is gone, closing ``items`` (a generator's ``finally`` runs).

    Raises:
        Exception: what ``items`` raised, or what sending an item raised.
    """
    try:
        while outlet.acquire():
            try:
                item = next(items)
            except StopIteration:
                return
            outlet.send(item)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


async def pump_async(items: AsyncIterator[Any], outlet: Outlet) -> None:
    """Like :func:`pump`, for an async iterator, on the running loop (a cancel stops it too)."""
    try:
        while await outlet.acquire_async():
            try:
                item = await items.__anext__()
            except StopAsyncIteration:
                return
            outlet.send(item)
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


def sync_items(value: Any, callback: str) -> Iterator[Any]:
    """An iterator over what a callback returned for a STREAM call, in a worker thread.

    Raises:
        UsageError: it is not a sync iterable (or is text or bytes, whose items are characters).
    """
    if isinstance(value, str | bytes | bytearray) or not hasattr(value, "__iter__"):
        raise UsageError(_not_items(value, callback))
    return iter(value)


def async_items(value: Any, callback: str) -> AsyncIterator[Any]:
    """An async iterator over what a callback returned (or awaited) for a STREAM call, on the loop."""
    if hasattr(value, "__aiter__"):
        items: AsyncIterator[Any] = value.__aiter__()
        return items
    return _as_async(sync_items(value, callback))


async def _as_async(items: Iterator[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _not_items(value: Any, callback: str) -> str:
    return (
        f"callback {callback!r} returned {type(value).__name__}, not items to stream: a STREAM call needs a "
        "callback that yields (a generator or async generator) or returns an iterable"
    )


def produce_sync(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], outlet: Outlet, name: str
) -> None:
    """Call a sync callback and pump what it yields into ``outlet``, in this (worker) thread."""
    value = fn(*args, **kwargs)
    if hasattr(value, "__aiter__"):
        raise UsageError(
            f"callback {name!r} returned an async iterator from a sync function; make it an async generator "
            "(async def ... yield) so that the node runs it on its event loop"
        )
    pump(sync_items(value, name), outlet)


async def produce_async(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], outlet: Outlet, name: str
) -> None:
    """Call an async callback (or async generator function) and pump its items into ``outlet``."""
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        value = await value
    await pump_async(async_items(value, name), outlet)


# ---------------------------------------------------------------------- the caller's end of STREAM


class StreamReply(Inlet, CallTarget):
    """The target of a STREAM call: the items as they come, then the reply that ends the call.

    Its consumer is the caller's :class:`~mesh.api._stream.Stream`, in any thread or on any loop.
    """

    __slots__ = ("_settled", "_task", "call_id", "deadline", "link", "local", "loop", "name", "timeout", "window")

    # What the link sends with the call: the flag, and the window (see mesh.wire._link.PeerLink.send_call).
    flags = pb.CALL_FLAG_STREAM
    answer = None  # a stream is answered by its callee only

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        name: str,
        timeout: float | None = None,
        window: int = DEFAULT_WINDOW,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
    ) -> None:
        Inlet.__init__(self, self._give_credit, window, window_bytes, self._decoded_item, self._decoded_end)
        self.loop = loop
        self.name = name
        # A stream's wait is per item (the consumer's), never a deadline for the whole call.
        self.timeout = None
        self.window = (window, window_bytes)
        self.link: PeerLink | None = None
        self.call_id = 0
        self.deadline: Bucket | None = None
        self._settled = False
        self._task: asyncio.Task[Any] | None = None
        # The outlet of a stream produced on this very node.
        self.local: Outlet | None = None

    def __repr__(self) -> str:
        return f"<stream of {self.name!r}: {'ended' if self.finished else 'open'}>"

    def done(self) -> bool:
        return self.finished

    def set_result(self, result: Any) -> None:
        """The reply that ends the stream (a value settled here ends it well)."""
        self.finish(result)

    def set_exception(self, exception: BaseException) -> None:
        self.finish(exception)

    @property
    def peer(self) -> str:
        return self.link.peer_name if self.link is not None else "this node"

    def _decoded_item(self, item: Any) -> Any:
        if self.local is not None:
            return item
        data, buffers, dill = item
        return decode(data, buffers, dill, "stream item", self.name, self.peer)

    def _decoded_end(self, end: Any) -> None:
        if self.link is not None and not self._settled:
            value_of(end, self.name, self.link.peer_name)

    def _give_credit(self, items: int, nbytes: int) -> None:
        local = self.local
        if local is not None:
            local.grant(items, nbytes)
        elif self.link is not None:
            _on_loop(self.loop, PeerLink.send_credit, self.link, self.call_id, 0, items, nbytes)

    def forget(self) -> None:
        if self.local is not None:
            self.local.close()
        super().forget()

    def close(self) -> None:
        """Stop the stream if it has not ended: the producer is asked to stop (its generator is
        closed) and the items not taken yet are dropped. Any thread."""
        if self.finished:
            return
        self.finish(CallCancelled(f"the stream of {self.name!r} was closed"), drop=True)
        if self.local is not None:
            self.local.close()
        _on_loop(self.loop, self.forget)


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on ``loop``: now when this is its thread, else soon."""
    if running_loop() is loop:
        fn(*args)
        return
    with contextlib.suppress(RuntimeError):  # the loop is closed: the node, and its links, are gone
        loop.call_soon_threadsafe(fn, *args)


# ---------------------------------------------------------------------- stream(...) arguments


class Streamed:
    """An argument whose items travel as the call's stream: made by :func:`mesh.stream`.

    ``items`` is the iterable (or async iterable) it wraps.
    """

    __slots__ = ("_used", "items", "loop", "window", "window_bytes")

    def __init__(self, items: Any, window: int = DEFAULT_WINDOW, window_bytes: int = DEFAULT_WINDOW_BYTES) -> None:
        is_async = hasattr(items, "__aiter__")
        if not is_async and (isinstance(items, str | bytes | bytearray) or not hasattr(items, "__iter__")):
            raise UsageError(f"stream() takes an iterable or an async iterable, not {type(items).__name__}")
        self.items = items
        self.window = window
        self.window_bytes = window_bytes
        # An async iterable is iterated on the loop it was wrapped on (None: the node's).
        self.loop = running_loop() if is_async else None
        self._used = False

    def __repr__(self) -> str:
        return f"stream({self.items!r})"

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        if self._used:
            raise SerializationError("a stream(...) argument was already sent; wrap the iterable again for each call")
        return (_streamed_argument, (streamed_slot(self), self.window, self.window_bytes))

    def start(self, outlet: Outlet, node_loop: asyncio.AbstractEventLoop) -> Outlet:
        """Pump the items into ``outlet``: in a thread of their own, or as a task on their loop."""
        self._used = True
        if hasattr(self.items, "__aiter__"):
            loop = self.loop or node_loop
            coro = _pump_argument_async(self.items.__aiter__(), outlet)
            if running_loop() is loop:
                loop.create_task(coro)
            else:
                asyncio.run_coroutine_threadsafe(coro, loop)
        else:
            thread = threading.Thread(
                target=_pump_argument, args=(iter(self.items), outlet), name="mesh-stream-argument", daemon=True
            )
            thread.start()
        return outlet

    def local_inlet(self, node_loop: asyncio.AbstractEventLoop) -> tuple[Inlet, Outlet]:
        """For a call run on this node: an inlet that this argument's items go to, and its outlet."""
        inlet, outlet = local_stream(self.window)
        self.start(outlet, node_loop)
        return inlet, outlet


def _pump_argument(items: Iterator[Any], outlet: Outlet) -> None:
    try:
        pump(items, outlet)
    except Exception as exc:
        outlet.end(exc)
    else:
        outlet.end(None)


async def _pump_argument_async(items: AsyncIterator[Any], outlet: Outlet) -> None:
    try:
        await pump_async(items, outlet)
    except Exception as exc:
        outlet.end(exc)
    else:
        outlet.end(None)


# The inlets of the streamed arguments of the call whose arguments this thread decodes.
_receiving = threading.local()


@contextlib.contextmanager
def receiving(inlets: list[Inlet]) -> Iterator[None]:
    """Decode a call's arguments with ``inlets`` in place of its streamed arguments."""
    _receiving.inlets = inlets
    try:
        yield
    finally:
        _receiving.inlets = None


def _streamed_argument(slot: int, window: int, window_bytes: int) -> Inlet:
    """What a streamed argument loads as: the inlet of its slot in the call being decoded."""
    inlets = getattr(_receiving, "inlets", None)
    if not inlets or slot > len(inlets):
        raise SerializationError("a stream(...) argument can only be loaded as an argument of the call it came with")
    inlet: Inlet = inlets[slot - 1]
    inlet.set_window(window, window_bytes)
    return inlet


def argument_inlets(
    handoff: Callable[..., None], link: PeerLink, call_id: int, count: int, callback: str
) -> list[Inlet]:
    """The inlets of a served call's ``count`` streamed arguments, granting credit over ``link``."""
    inlets = []
    for slot in range(1, count + 1):
        credit = functools.partial(handoff, PeerLink.send_credit, link, call_id, slot)
        unpack = functools.partial(_decoded_argument_item, callback, link.peer_name)
        inlets.append(Inlet(credit, unpack=unpack))
    return inlets


def _decoded_argument_item(callback: str, peer: str, item: Any) -> Any:
    data, buffers, dill = item
    return decode(data, buffers, dill, "streamed argument item", callback, peer)


def local_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], node_loop: asyncio.AbstractEventLoop
) -> tuple[tuple[Any, ...], dict[str, Any], list[Outlet]]:
    """For a call run on this node: ``args`` and ``kwargs`` with an inlet in place of each streamed
    argument, and the outlets that feed them (closed when the call ends)."""
    outlets: list[Outlet] = []

    def replaced(value: Any) -> Any:
        if type(value) is not Streamed:
            return value
        inlet, outlet = value.local_inlet(node_loop)
        outlets.append(outlet)
        return inlet

    if not any(type(a) is Streamed for a in args) and not any(type(v) is Streamed for v in kwargs.values()):
        return args, kwargs, outlets
    return tuple(replaced(a) for a in args), {k: replaced(v) for k, v in kwargs.items()}, outlets
