"""Where a pipeline's processor runs on another mesh node: ``serve_processor`` and the hosting callback.

::

    builder ── stream(batches) ──> mesh_pipelines.host(session, ...) on node X ── STREAM(results) ──> builder
                                     │ inputs from other processors' nodes: pulled (mesh_direct.pull)
                                     │ outputs to other processors' nodes: direct edges, pulled by them
                                     └─ Processor(coro served as `callback`) between bounded streams

The builder gives each hosted processor its inputs and outputs as it drew them: a source is either
one of the builder's streamed arguments or an edge to pull from the node of the processor before;
the results go back to the builder only if a processor there (or a sink) takes them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from functools import partial
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from mesh import Global, UsageError

from ._direct import Edge, batches, edges_of, pull, unbatch
from ._processor import Coro, Processor, run_or_stop_all

HOST = "mesh_pipelines.host"

_SERVED: weakref.WeakKeyDictionary[Global, dict[str, Coro]] = weakref.WeakKeyDictionary()


class RemoteSelf:
    """What a processor's coroutine gets as ``self`` on the node that serves it: the node's name for it."""

    def __init__(self, name: str) -> None:
        self.name = name


def serve_processor(g: Global, coro: Coro, name: str) -> list[str]:
    """Offer ``coro`` (a ``(self, q_elt, **args)`` coroutine) from ``g``'s node as the processor ``name``.

    A pipeline node ``{'coro': name, 'node': <g's process name>}`` then runs there. ``name`` is also
    a callback of its own that takes a ``stream(...)`` of ``q_elt`` tuples and streams the results.

    :returns: the names registered (``[name]``).
    :raises UsageError: ``name`` is not a valid callback name, or is taken.
    """
    me = RemoteSelf(name)

    async def process(items: AsyncIterator[Any], **args: Any) -> AsyncIterator[Any]:
        async for q_elt in items:
            yield await coro(me, tuple(q_elt), **args)

    served = _SERVED.get(g)
    if served is None:
        served = _SERVED[g] = {}
        g.register(_host(g, served), name=HOST)
    served[name] = coro
    return g.register(process, name=name)


def _host(g: Global, served: dict[str, Coro]) -> Any:
    edges = edges_of(g)

    async def host(
        session: str,
        name: str,
        callback: str,
        plan: Mapping[str, Any],
        *streams: AsyncIterator[list[Any]],
    ) -> AsyncIterator[tuple[int, int, list[Any]]]:
        coro = served.get(callback)
        if coro is None:
            raise UsageError(
                f"pipeline processor {name!r}: node {g.process_name!r} serves no processor {callback!r} "
                f"(it serves {sorted(served)}; serve_processor(g, coro, {callback!r}) there)"
            )
        me = RemoteSelf(callback)
        processor = Processor(name, coro, aggregate_inputs=plan["aggregate"], args=plan["args"], me=me)
        results, taken = anyio.create_memory_object_stream[Any](plan["buffer"])
        run = _Run(g, session, processor, plan, streams)
        outs = [edges.get(session, edge, plan["buffer"]) for edge in plan["edges"]]
        work = asyncio.get_running_loop().create_task(run.work(results if plan["to_builder"] else None, outs))
        work.add_done_callback(lambda _: results.close())  # however the work ends, the loop below ends
        try:
            async with taken:
                if not plan["to_builder"]:
                    results.close()
                async for batch in batches(taken):
                    stats = processor.statistics()
                    yield stats.items_in, stats.items_out, batch
            await work
            stats = processor.statistics()
            yield stats.items_in, stats.items_out, []
        finally:
            work.cancel()
            with suppress(asyncio.CancelledError):
                await work
            for edge, entry in zip(plan["edges"], outs, strict=True):
                edges.drop(session, edge, entry)

    return host


class _Run:
    """One hosted processor of one pipeline run: its input pumps, the processor, its direct edges."""

    def __init__(
        self, g: Global, session: str, processor: Processor, plan: Mapping[str, Any], streams: Sequence[Any]
    ) -> None:
        self._g = g
        self._session = session
        self._processor = processor
        self._plan = plan
        self._streams = streams
        self._sends: list[MemoryObjectSendStream[Any]] = []

    async def work(self, results: MemoryObjectSendStream[Any] | None, outs: list[Edge]) -> None:
        """Run the processor; on success close the edges and wait until their receivers took every item."""
        pumps, inputs = self._inputs()
        outputs = [entry.send.clone() for entry in outs] + ([results] if results is not None else [])
        self._processor.connect(inputs, outputs)
        failures: list[Exception] = []
        try:
            async with anyio.create_task_group() as group:
                for pump in (*pumps, self._processor.run):
                    group.start_soon(run_or_stop_all, pump, failures, group.cancel_scope)
            if failures:
                raise failures[0]
        except BaseException:
            for entry in outs:
                entry.end(failed=True)
            raise
        finally:
            for stream in (*self._sends, *outputs):
                stream.close()
        for entry in outs:
            entry.end(failed=False)
        for entry in outs:
            await entry.drained.wait()

    def _inputs(self) -> tuple[list[Callable[[], Awaitable[None]]], list[MemoryObjectReceiveStream[Any]]]:
        """A pump per source (it fills one of the processor's input streams), and those streams."""
        plan = self._plan
        if plan["aggregate"]:
            pairs = [anyio.create_memory_object_stream[Any](plan["buffer"]) for _ in plan["sources"]]
            self._sends = [send for send, _ in pairs]
            receives = [receive for _, receive in pairs]
        else:
            send, receive = anyio.create_memory_object_stream[Any](plan["buffer"])
            self._sends = [send.clone() for _ in plan["sources"]]
            send.close()
            receives = [receive]
        return [self._pump(where, send) for where, send in zip(plan["sources"], self._sends, strict=True)], receives

    def _pump(self, where: int | Sequence[str], send: MemoryObjectSendStream[Any]) -> Callable[[], Awaitable[None]]:
        """Fill ``send`` from the builder's streamed argument ``where``, or by pulling ``(node, edge)``."""
        if isinstance(where, int):
            return partial(unbatch, self._streams[where], send)
        node, edge = where

        async def pulled() -> None:
            plan = self._plan
            items = await pull(self._g, node, self._session, edge, plan["buffer"], plan["window"], keep=True)
            async with items:
                await unbatch(items, send)

        return pulled
