"""One node of a pipeline: takes items from its input streams, awaits its coroutine on each, sends the results on.

::

    source streams ──(one item from each, or any one)──> coro(self, q_elt, **args) ──> every dest stream

An input node has no sources: its coroutine is awaited once as ``coro(self, output_q, **args)`` and puts
items with ``await output_q.put(item)``. Every stream is a bounded anyio memory object stream, so a
slow node stops the nodes before it instead of letting items pile up.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from mesh import UsageError

Coro = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class ProcessorStatistics:
    """A processor's counters: items taken in, items put out, items waiting in its input streams."""

    items_in: int
    items_out: int
    queue_depth: int


class OutputQueue:
    """What a coroutine's items go into: ``await output_q.put(item)`` sends ``item`` to every next node."""

    def __init__(self, dests: Sequence[ObjectSendStream[Any]]) -> None:
        self._dests = dests
        self.items_out = 0

    async def put(self, item: Any) -> None:
        """Send ``item`` to every next node, waiting while any of them has a full input stream."""
        for dest in self._dests:
            await send(dest, item)
        self.items_out += 1


class Processor:
    """A node of a pipeline (the seed's ``Processor``): a coroutine between input and output streams.

    The Plumber builds these; a coroutine receives its own Processor as ``self`` and can read
    ``name``, ``uuid``, ``processor_coro`` and :meth:`statistics` (or ``me``, when given: a
    processor served on another node gets a ``RemoteSelf`` there).
    """

    def __init__(
        self,
        name: str,
        coro: Coro,
        *,
        aggregate_inputs: bool = True,
        args: Mapping[str, Any] | None = None,
        me: Any = None,
    ) -> None:
        self._name = name
        self._me = self if me is None else me
        self._uuid = str(uuid.uuid4())
        self._coro = coro
        self._inputs: tuple[MemoryObjectReceiveStream[Any], ...] = ()
        self._outputs: tuple[MemoryObjectSendStream[Any], ...] = ()
        self._aggregate = aggregate_inputs
        self._args = dict(args or {})
        self._output_q = OutputQueue(self._outputs)
        self._items_in = 0

    def connect(
        self, inputs: Sequence[MemoryObjectReceiveStream[Any]], outputs: Sequence[MemoryObjectSendStream[Any]]
    ) -> None:
        """Give the processor its streams (the Plumber does, when the pipeline starts)."""
        self._inputs, self._outputs = tuple(inputs), tuple(outputs)
        self._output_q = OutputQueue(self._outputs)

    @property
    def name(self) -> str:
        """The node's name in the graph."""
        return self._name

    @property
    def uuid(self) -> str:
        """A name unique to this processor object."""
        return self._uuid

    @property
    def processor_coro(self) -> Coro:
        """The coroutine function this node awaits."""
        return self._coro

    @property
    def liason_queues(self) -> tuple[tuple[ObjectReceiveStream[Any], ...], tuple[ObjectSendStream[Any], ...]]:
        """The seed's name for the node's (input streams, output streams)."""
        return self._inputs, self._outputs

    def statistics(self) -> ProcessorStatistics:
        """Items in and out so far, and how many wait in the input streams now."""
        depth = sum(stream.statistics().current_buffer_used for stream in self._inputs)
        return ProcessorStatistics(self._items_in, self._output_q.items_out, depth)

    async def run(self) -> None:
        """Process until the inputs end (or the input coroutine returns), then close the outputs.

        An exception from the coroutine propagates with a note naming this node.
        """
        try:
            async with AsyncExitStack() as streams:
                for stream in (*self._inputs, *self._outputs):
                    await streams.enter_async_context(stream)
                await self._work()
        except Exception as exc:
            if sys.version_info >= (3, 11):
                exc.add_note(f"raised in pipeline processor {self._name!r}")
            raise

    async def _work(self) -> None:
        if not self._inputs:
            await self._coro(self, self._output_q, **self._args)
        else:
            await self._process()

    async def _process(self) -> None:
        while True:
            q_elt = await self._next_input()
            if q_elt is None:
                return
            self._items_in += 1
            await self._output_q.put(await self._coro(self._me, q_elt, **self._args))

    async def _next_input(self) -> tuple[Any, ...] | None:
        """One item from each source (aggregated) or from any (not), as a tuple; None at the end."""
        if not self._aggregate:
            try:
                return (await receive(self._inputs[0]),)
            except anyio.EndOfStream:
                return None
        items = []
        for index, stream in enumerate(self._inputs):
            try:
                items.append(await receive(stream))
            except anyio.EndOfStream:
                await self._refuse_leftovers(index)
                return None
        return tuple(items)

    async def _refuse_leftovers(self, ended: int) -> None:
        """An aggregated node's source ended: the others must end too, with no item left unpaired."""
        leftovers = 0
        for index, stream in enumerate(self._inputs):
            if index != ended:
                async for _ in stream:
                    leftovers += 1
        if leftovers or ended:
            raise UsageError(
                f"an input of pipeline processor {self._name!r} ended while others sent more items; "
                "an aggregated node takes one item from each source, so each must send as many "
                "(or set 'properties': {'aggregate_inputs': False})"
            )


async def run_or_stop_all(
    run: Callable[[], Awaitable[None]], failures: list[Exception], scope: anyio.CancelScope
) -> None:
    """Await ``run()``; if it raises, keep the error and cancel ``scope`` (every task beside it)."""
    try:
        await run()
    except Exception as exc:
        failures.append(exc)
        scope.cancel()


async def send(stream: ObjectSendStream[Any], item: Any) -> None:
    """``await stream.send(item)``, without a trip through the event loop while there is room.

    anyio's streams yield to the loop on every item; a pipeline's nodes then take turns item by
    item, at a loop iteration each. Here a node runs on while its edges have room and items, as the
    seed's ``asyncio.Queue`` does, and waits (and can be cancelled) when they have not.
    """
    try:
        stream.send_nowait(item)  # type: ignore[attr-defined]
    except anyio.WouldBlock:
        await stream.send(item)


async def receive(stream: ObjectReceiveStream[Any]) -> Any:
    """``await stream.receive()``, without a trip through the event loop while an item waits (see :func:`send`)."""
    try:
        return stream.receive_nowait()  # type: ignore[attr-defined]
    except anyio.WouldBlock:
        return await stream.receive()
