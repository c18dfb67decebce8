"""A processor that runs on another mesh node: its items streamed there with ``stream(...)``, back with STREAM.

::

    this process                                      node 'w1' (serve_processor(g, coro, "rev"))
    sources ──> RemoteProcessor ── stream(items) ──>  async for q_elt: yield await coro(self, q_elt)
                     dests <────────── STREAM ─────── (items as they are produced)

Both directions keep the mesh's stream windows, so a slow processor on the far node holds back the
pipeline here as a slow local one does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import reduce
from typing import Any

from mesh import STREAM, Global, UsageError, stream

from ._processor import Coro, Processor


class RemoteSelf:
    """What a processor's coroutine gets as ``self`` on the node that serves it: the node's name for it."""

    def __init__(self, name: str) -> None:
        self.name = name


def serve_processor(g: Global, coro: Coro, name: str) -> list[str]:
    """Offer ``coro`` (a ``(self, q_elt, **args)`` coroutine) from ``g``'s node as the processor ``name``.

    A pipeline node ``{'coro': name, 'node': <g's process name>}`` then runs there.

    :returns: the names registered (``[name]``).
    :raises UsageError: ``name`` is not a valid callback name, or is taken.
    """
    me = RemoteSelf(name)

    async def process(items: AsyncIterator[Any], **args: Any) -> AsyncIterator[Any]:
        async for q_elt in items:
            yield await coro(me, tuple(q_elt), **args)

    return g.register(process, name=name)


class RemoteProcessor(Processor):
    """A pipeline node whose coroutine runs on the mesh node ``node``, offered there by :func:`serve_processor`."""

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
        self._window = {} if window is None else {"window": window}

    @property
    def node(self) -> str:
        """The mesh node the processor runs on."""
        return self._node

    async def _process(self) -> None:
        call: Any = reduce(getattr, self._callback.split("."), self._g.call)
        items = stream(self._items(), **self._window)
        async with call(items, **self._args) & STREAM(receiver=self._node, **self._window) as results:
            async for result in results:
                await self._output_q.put(result)

    async def _items(self) -> AsyncIterator[tuple[Any, ...]]:
        while (q_elt := await self._next_input()) is not None:
            self._items_in += 1
            yield q_elt


async def _not_here(self: Processor, q_elt: Any) -> Any:
    raise UsageError(f"pipeline processor {self.name!r} runs on another node, not here")
