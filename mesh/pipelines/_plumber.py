"""The Plumber: builds the processors of a graph dict, joins them with bounded streams, and runs them.

All processors run in one anyio task group: when one raises, the group cancels the others and the
error surfaces from :meth:`Plumber.run` (or :meth:`Pipeline.wait`) as its own type, with a note naming
the processor; cancelling the run (Ctrl-C in ``asyncio.run``) cancels every processor likewise.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from mesh import Global, UsageError

from ._graph import NodeSpec, read_graph
from ._mermaid import mermaid
from ._processor import Processor, ProcessorStatistics, run_or_stop_all
from ._remote import RemoteProcessor
from ._report import pipeline_gauges

DEFAULT_BUFFER = 16


class Plumber:
    """Builds a pipeline from the seed's graph dict (``nodes`` and ``graph``) and runs it.

    :param input_d: ``{'nodes': {name: {'coro': ..., 'args': {...}, 'properties': {...}}}, 'graph':
        {name: (next, ...) or None}}``. ``properties`` may hold ``aggregate_inputs`` (default True).
    :param coro_map: maps each node's ``coro`` value to its coroutine function (default: the value
        itself).
    :param buffer_size: how many items each edge holds before its sender waits.
    :param g: the mesh node that calls the processors of nodes with a ``'node'`` entry.
    :param window: the ``window`` of the streams to and from those processors (default: the mesh's).
    :param name: what the pipeline is called where it is reported: with ``g``, its processors'
        counters and its edges are reported on ``g``'s node while it runs (``mesh dashboard`` shows
        them, with rates; the Prometheus metrics carry them). Default: ``pipeline-`` and 8 hex digits.
    :raises UsageError: the dict is malformed, names unknown nodes, has a cycle, or a ``coro`` does
        not map to a callable; a node names a mesh node and ``g`` is not given.
    """

    def __init__(
        self,
        input_d: Mapping[str, Any],
        coro_map: Callable[[Any], Any] | None = None,
        *,
        buffer_size: int = DEFAULT_BUFFER,
        g: Global | None = None,
        window: int | None = None,
        name: str | None = None,
    ) -> None:
        if buffer_size < 1:
            raise UsageError(f"buffer_size must be at least 1, not {buffer_size}")
        if name is not None and (not isinstance(name, str) or not name):
            raise UsageError(f"a pipeline's name is a non-empty str, not {name!r}")
        self.name = name or f"pipeline-{uuid.uuid4().hex[:8]}"
        self._specs = read_graph(input_d)
        self._buffer = buffer_size
        self._started = False
        self._g = g
        self._window = window
        self._processors = [self._processor(spec, coro_map or (lambda coro: coro)) for spec in self._specs]

    @property
    def nodes(self) -> list[Processor]:
        """The processors, in the order of ``input_d['nodes']``."""
        return list(self._processors)

    def statistics(self) -> dict[str, ProcessorStatistics]:
        """Each processor's counters, by node name."""
        return {p.name: p.statistics() for p in self._processors}

    @property
    def specs(self) -> list[NodeSpec]:
        """The graph's nodes as read from ``input_d``, in its order."""
        return list(self._specs)

    def mermaid(self) -> str:
        """The pipeline as a mermaid flowchart, drawn as the seed's README draws it."""
        return mermaid(self._specs)

    async def run(self) -> None:
        """Run every processor until the input nodes are done and every item has gone through.

        :raises Exception: the first exception a processor raised (the others are cancelled then).
        :raises UsageError: the pipeline ran already.
        """
        if self._started:
            raise UsageError("this Plumber's pipeline ran already; build a new Plumber to run it again")
        self._started = True
        self._connect()
        failures: list[Exception] = []
        node, gauges = self._g, pipeline_gauges(self.name, self._specs, self.statistics)
        if node is not None:
            node.add_gauges(gauges)
        try:
            async with anyio.create_task_group() as group:
                for processor in self._processors:
                    group.start_soon(run_or_stop_all, processor.run, failures, group.cancel_scope, name=processor.name)
        finally:
            if node is not None:
                node.remove_gauges(gauges)
        if failures:
            raise failures[0]

    def create_pipeline(self) -> Pipeline:
        """Start the pipeline on the running event loop, as the seed does, and return at once.

        :returns: a :class:`Pipeline` to wait for, cancel or read counters from.
        :raises UsageError: no event loop is running (use ``anyio.run(plumber.run)`` from sync code).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError(
                "create_pipeline() starts the pipeline on the running event loop; call it from async "
                "code, or run `await plumber.run()` / `anyio.run(plumber.run)`"
            ) from None
        if self._started:
            raise UsageError("this Plumber's pipeline ran already; build a new Plumber to run it again")
        return Pipeline(self, loop.create_task(self.run(), name="pipeline"))

    def _processor(self, spec: NodeSpec, coro_map: Callable[[Any], Any]) -> Processor:
        if spec.node is None:
            return Processor(
                spec.name, _coro_of(spec, coro_map), aggregate_inputs=spec.aggregate_inputs, args=spec.args
            )
        if self._g is None:
            raise UsageError(
                f"node {spec.name!r} runs on mesh node {spec.node!r}: give the Plumber a Global to call it "
                "with (Plumber(input_d, coro_map, g=g))"
            )
        return RemoteProcessor(
            spec.name,
            spec.coro,
            g=self._g,
            node=spec.node,
            aggregate_inputs=spec.aggregate_inputs,
            args=spec.args,
            window=self._window,
        )

    def _connect(self) -> None:
        """Join the processors with bounded streams, one per edge (or one per non-aggregated node).

        An edge between two processors on other nodes is direct: its sender keeps it and its receiver
        pulls it from there, so its items never pass through this process.
        """
        remote = {p.name: p for p in self._processors if isinstance(p, RemoteProcessor)}
        outputs: dict[str, list[MemoryObjectSendStream[Any]]] = {spec.name: [] for spec in self._specs}
        inputs = {}
        for spec in self._specs:
            here = [s for s in spec.sources if spec.name not in remote or s not in remote]
            inputs[spec.name] = self._wire_inputs(spec.aggregate_inputs, here, outputs)
        session = uuid.uuid4().hex
        for spec in self._specs:
            if spec.name in remote:
                remote[spec.name].plan(
                    session,
                    _sources(spec, remote),
                    [_edge(spec.name, dest) for dest in spec.dests if dest in remote],
                    to_builder=any(dest not in remote for dest in spec.dests),
                    buffer=self._buffer,
                )
        for processor in self._processors:
            processor.connect(inputs[processor.name], outputs[processor.name])

    def _wire_inputs(
        self, aggregate: bool, sources: list[str], outputs: dict[str, list[MemoryObjectSendStream[Any]]]
    ) -> list[MemoryObjectReceiveStream[Any]]:
        """The input streams from ``sources``: one per source, or one shared by all (not aggregated)."""
        if aggregate or not sources:
            receivers = []
            for source in sources:
                send, receive = anyio.create_memory_object_stream[Any](self._buffer)
                outputs[source].append(send)
                receivers.append(receive)
            return receivers
        send, receive = anyio.create_memory_object_stream[Any](self._buffer)
        for source in sources:
            outputs[source].append(send.clone())
        send.close()
        return [receive]


def _edge(source: str, dest: str) -> str:
    return f"{source}->{dest}"


def _sources(spec: NodeSpec, remote: Mapping[str, RemoteProcessor]) -> list[int | tuple[str, str]]:
    """Where a remote processor takes each input from: a stream from here (by index) or a node to pull."""
    pulled = [(remote[s].node, _edge(s, spec.name)) for s in spec.sources if s in remote]
    if not spec.aggregate_inputs:
        return ([0] if len(pulled) < len(spec.sources) else []) + pulled
    result: list[int | tuple[str, str]] = []
    for source in spec.sources:
        result.append(
            (remote[source].node, _edge(source, spec.name))
            if source in remote
            else sum(isinstance(r, int) for r in result)
        )
    return result


class Pipeline:
    """A pipeline started by :meth:`Plumber.create_pipeline`, running as a task on the event loop."""

    def __init__(self, plumber: Plumber, task: asyncio.Task[None]) -> None:
        self._plumber = plumber
        self._task = task

    def done(self) -> bool:
        """Whether the pipeline has finished (completed, failed or cancelled)."""
        return self._task.done()

    def statistics(self) -> dict[str, ProcessorStatistics]:
        """Each processor's counters, by node name."""
        return self._plumber.statistics()

    async def wait(self) -> None:
        """Wait until every item has gone through; raises what a processor raised."""
        await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Cancel every processor and wait until they have stopped."""
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task


def _coro_of(spec: NodeSpec, coro_map: Callable[[Any], Any]) -> Any:
    coro = coro_map(spec.coro)
    if not callable(coro):
        raise UsageError(f"coro_map({spec.coro!r}) for node {spec.name!r} gave {coro!r}, which is not callable")
    return coro
