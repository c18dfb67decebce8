"""Batching on the node's event loop, for a backend whose client is async (Redis reads).

The first item goes at once, sent by its own caller; the items that arrive while a batch is out wait,
and go together in the next one, in the order they came. A lone call pays no wait and no task of its
own, and a flood shares round trips, with no thread between the loop and the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._batches import LIMIT, Outcome, running_loop_of, settle

ApplyAsync = Callable[[list[Any]], Awaitable[Sequence[Outcome]]]


class LoopBatches:
    """Applies the submitted items in batches with ``apply``, a coroutine run on the loop of the node
    that submits them; ``name`` names the batches in errors."""

    def __init__(self, name: str, apply: ApplyAsync) -> None:
        self.applied = self.batches = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._name = name
        self._apply = apply
        self._waiting: list[tuple[Any, asyncio.Future[Any]]] = []
        # A batch is out (sent by its caller, or by the sender task); the sender task, kept from the GC.
        self._busy = False
        self._sender: asyncio.Task[None] | None = None

    async def submit(self, item: Any) -> Any:
        """Apply ``item`` with the next batch; its result, or the exception it raised."""
        loop = self.loop = running_loop_of(self.loop, self._name)
        if not self._busy:
            return await self._alone(item)
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((item, future))
        return await future

    async def _alone(self, item: Any) -> Any:
        """Apply ``item`` as a batch of one, then hand what came meanwhile to a sender task."""
        self._busy = True
        try:
            outcomes = await self._applied([item])
        finally:
            if self._waiting:
                assert self.loop is not None
                self._sender = self.loop.create_task(self._send())
            else:
                self._busy = False
        result, error = outcomes[0]
        if error is not None:
            raise error
        return result

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:LIMIT], self._waiting[LIMIT:]
                outcomes = await self._applied([item for item, _ in batch])
                settle([future for _, future in batch], outcomes, None)
        finally:
            self._sender = None
            self._busy = False

    async def _applied(self, items: list[Any]) -> Sequence[Outcome]:
        try:
            outcomes: Sequence[Outcome] = await self._apply(items)
        except Exception as exc:  # the batch failed as a whole: each item gets the error
            outcomes = [(None, exc)] * len(items)
        self.applied += len(items)
        self.batches += 1
        return outcomes
