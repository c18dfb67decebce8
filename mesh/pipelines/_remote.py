"""The builder's side of a processor that runs on another mesh node (served there by ``serve_processor``).

::

    this process (the builder)                          node 'w1'
    sources here ──> RemoteProcessor ── stream(batches) ──> mesh_pipelines.host(session, ...)
                           dests here <──── STREAM ─────── (results, in batches, with its counters)

Its edges to and from processors on other nodes do not pass here: the Plumber draws them as direct
edges (see ``_direct``) and tells each end where to pull or leave its items. Both directions keep the
mesh's stream windows, so a slow processor on a far node holds back the pipeline as a local one does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any

from mesh import STREAM, Global, UsageError, stream

from ._direct import batches, in_view, windowed
from ._host import HOST
from ._processor import Processor, ProcessorStatistics


class RemoteProcessor(Processor):
    """A pipeline node whose coroutine runs on the mesh node ``node``, offered there by ``serve_processor``."""

    def __init__(
        self,
        name: str,
        callback: str,
        *,
        g: Global,
        node: str,
        aggregate_inputs: bool,
        args: Mapping[str, Any],
        window: int | None = None,
    ) -> None:
        super().__init__(name, _not_here, aggregate_inputs=aggregate_inputs, args=args)
        self._g = g
        self._node = node
        self._callback = callback
        self._window = window
        self._session = ""
        self._plan: dict[str, Any] = {}
        self._counted = (0, 0)

    @property
    def node(self) -> str:
        """The mesh node the processor runs on."""
        return self._node

    def plan(
        self,
        session: str,
        sources: Sequence[int | tuple[str, str]],
        edges: Sequence[str],
        *,
        to_builder: bool,
        buffer: int,
    ) -> None:
        """Say where its inputs come from (a stream from here by index, or ``(node, edge)`` to pull) and
        which direct edges it sends on; ``to_builder``: whether processors here take its results."""
        self._session = session
        self._plan = {
            "aggregate": self._aggregate,
            "args": self._args,
            "sources": list(sources),
            "edges": list(edges),
            "to_builder": to_builder,
            "buffer": buffer,
            "window": self._window,
        }

    def statistics(self) -> ProcessorStatistics:
        """Items in and out on its node (as last reported from there), and those waiting here for it."""
        depth = sum(stream.statistics().current_buffer_used for stream in self._inputs)
        return ProcessorStatistics(*self._counted, depth)

    async def _work(self) -> None:
        await in_view(self._g, self._node, HOST)
        call: Any = reduce(getattr, HOST.split("."), self._g.call)
        window = windowed(self._window)
        streams = [stream(batches(receive), **window) for receive in self._inputs]
        remote = call(self._session, self._name, self._callback, self._plan, *streams)
        async with remote & STREAM(receiver=self._node, **window) as results:
            async for items_in, items_out, batch in results:
                self._counted = (items_in, items_out)
                for item in batch:
                    await self._output_q.put(item)


async def _not_here(self: Processor, q_elt: Any) -> Any:
    raise UsageError(f"pipeline processor {self.name!r} runs on another node, not here")
