"""Direct edges: items that go from a processor on one mesh node to a processor on another, not through the builder.

::

    node X (sender)                                         node Y (receiver)
    processor ──> Edges[(session, edge)] (bounded) ──>  mesh_direct.pull(session, edge) & STREAM(receiver=X)
                                                         ──> processor

The sending node keeps each edge as a bounded memory stream under ``(session, edge)``; the receiving
node pulls it with a STREAM call aimed at the sending node, in batches of what is waiting (at most
:data:`MOST_A_MESSAGE` items a message). The STREAM's window and the edge's bound keep backpressure end to end.

In a pipeline, only the builder (the process that started it) decides that a run failed: it hears
every processor's error from that processor's own call. So an edge whose sender failed, or whose
receiver went away, is not ended: its other side waits until the builder cancels the run (which
closes every call of it, and so every pull), and the error the builder raises is the first cause,
not a consequence of it (``keep=True``). A flow sends its errors down its edges as values, and a
reader that goes away is dropped (``keep=False``): the sender goes on for its other readers.
"""

from __future__ import annotations

import pickle
import weakref
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, SupportsIndex

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from mesh import FG, STREAM, Global, MeshError, Stream

from ._processor import send as send_item

PULL = "mesh_direct.pull"
LEAVE = "mesh_direct.leave"
MOST_A_MESSAGE = 64
"""The most items one stream message of an edge carries."""
VIEW_WAIT = 10.0
"""Seconds a node waits for the node it calls to come into its view."""
LARGE = 64 * 1024
"""A ``bytes`` item this long or longer travels alone and out of band."""


@dataclass
class Edge:
    """One direct edge on its sending node: a bounded stream, and whether its sender ended well."""

    send: MemoryObjectSendStream[Any]
    receive: MemoryObjectReceiveStream[Any]
    drained: anyio.Event = field(default_factory=anyio.Event)
    failed: bool = False

    def leave(self) -> None:
        """Its receiver is gone: what is sent from now on is refused, and the sender need not wait."""
        self.receive.close()
        self.drained.set()

    def end(self, *, failed: bool) -> None:
        """The sender is done; ``failed``: its receiver then waits to be cancelled instead of ending."""
        self.failed = failed
        self.send.close()


class Edges:
    """The direct edges of one node, by ``(session, edge)``: made by whichever side comes first."""

    def __init__(self) -> None:
        self._edges: dict[tuple[str, str], Edge] = {}

    def get(self, session: str, edge: str, buffer: int) -> Edge:
        """The edge, made with room for ``buffer`` items if neither side asked for it yet."""
        key = (session, edge)
        found = self._edges.get(key)
        if found is None:
            send, receive = anyio.create_memory_object_stream[Any](buffer)
            found = self._edges[key] = Edge(send, receive)
        return found

    def find(self, session: str, edge: str) -> Edge | None:
        """The edge, if a side asked for it and it is not dropped yet."""
        return self._edges.get((session, edge))

    def drop(self, session: str, edge: str, entry: Edge) -> None:
        """Forget ``entry`` (if it is still the edge of that name)."""
        if self._edges.get((session, edge)) is entry:
            del self._edges[(session, edge)]

    def __len__(self) -> int:
        return len(self._edges)


_EDGE_TABLES: weakref.WeakKeyDictionary[Global, Edges] = weakref.WeakKeyDictionary()


def edges_of(g: Global) -> Edges:
    """``g``'s node's direct edges; the first call offers :data:`PULL` and :data:`LEAVE` there."""
    table = _EDGE_TABLES.get(g)
    if table is None:
        table = _EDGE_TABLES[g] = Edges()
        g.register(_puller(table), name=PULL)
        g.register(_leaver(table), name=LEAVE)
    return table


def _puller(table: Edges) -> Any:
    async def pull(session: str, edge: str, buffer: int, keep: bool) -> AsyncIterator[list[Any]]:
        entry = table.get(session, edge, buffer)
        drained = False
        try:
            async for batch in batches(entry.receive):
                yield batch
            if entry.failed:
                await anyio.sleep_forever()  # the builder hears the sender's error and cancels this call
            drained = True
        finally:
            if drained or not keep:
                entry.leave()
            table.drop(session, edge, entry)

    return pull


def _leaver(table: Edges) -> Any:
    def leave(session: str, edge: str) -> None:
        entry = table.find(session, edge)
        if entry is not None:
            entry.leave()

    return leave


async def pull(g: Global, node: str, session: str, edge: str, buffer: int, window: int | None, *, keep: bool) -> Stream:
    """The STREAM call that takes the edge ``edge`` of ``session`` from ``node``, in batches.

    ``keep``: a receiver that goes before the end leaves the sender waiting (to be cancelled with the
    run, as a pipeline's are), instead of dropping it as a reader that stopped (as a flow's are).
    """
    await in_view(g, node, PULL)
    call: Any = reduce(getattr, PULL.split("."), g.call)
    return call(session, edge, buffer, keep) & STREAM(receiver=node, **windowed(window))  # type: ignore[no-any-return]


async def let_go(g: Global, node: str, session: str, edge: str) -> None:
    """Tell ``node`` that nobody will pull ``edge`` of ``session`` (any more); a dead node is let be."""
    call: Any = reduce(getattr, LEAVE.split("."), g.call)
    with anyio.CancelScope(shield=True), suppress(MeshError):
        await (call(session, edge) & FG(receiver=node, timeout=5))


async def in_view(g: Global, node: str, callback: str) -> None:
    """Wait up to :data:`VIEW_WAIT` seconds until ``g`` sees ``node`` offer ``callback``.

    The nodes of a run may have joined a moment ago: the builder may reach a node that another
    does not see yet. Past the wait, the call fails as calls do (``UnknownCallback``).
    """
    for _ in range(int(VIEW_WAIT / 0.02)):
        if any(m["name"] == node and callback in m["callbacks"] for m in g.members()):
            return
        await anyio.sleep(0.02)


def windowed(window: int | None) -> dict[str, int]:
    """The ``window`` keyword of the streams of a run, if it set one."""
    return {} if window is None else {"window": window}


async def batches(receive: MemoryObjectReceiveStream[Any], most: int = MOST_A_MESSAGE) -> AsyncIterator[list[Any]]:
    """The items of ``receive`` as lists: each takes what is waiting (at least one, at most ``most``),
    so at most the stream's room and one more: a window of batches stays a bounded number of items.

    A large ``bytes`` item ends its batch and goes out of band (as the mesh sends a large ``bytes``
    item of a stream): a batch of them would be copied into one pickle.
    """
    async for first in receive:
        batch = [_out_of_band(first)]
        while len(batch) < most and not isinstance(batch[-1], _Large):
            try:
                batch.append(_out_of_band(receive.receive_nowait()))
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        yield batch


class _Large:
    """A large ``bytes`` that pickles as an out-of-band buffer and loads back as ``bytes``."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (bytes, (pickle.PickleBuffer(self.data),))


def _out_of_band(item: Any) -> Any:
    return _Large(item) if type(item) is bytes and len(item) >= LARGE else item


async def unbatch(source: Any, send: MemoryObjectSendStream[Any]) -> None:
    """Send each item of each batch of the async iterable ``source`` to ``send``, and close ``send`` at
    the end. When ``source`` raises, ``send`` is left open (its reader waits to be cancelled rather than
    take the error for an end); its owner closes it once the run has stopped. A reader that stops
    reading ends the pump: whatever stopped it is the run's outcome."""
    try:
        async for batch in source:
            for item in batch:
                await send_item(send, item)
    except anyio.BrokenResourceError:
        return
    send.close()
