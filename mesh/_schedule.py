"""PERIOD: a callback run at given times or every N seconds, kept on the node that runs it."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import TYPE_CHECKING, Any

from ._proto import mesh_pb2 as pb

if TYPE_CHECKING:
    from ._link import PeerLink
    from ._node import Node
    from ._registry import LocalCallback

logger = logging.getLogger("mesh")

_local_keys = itertools.count(1)
_local: dict[tuple[int, int], Recurring] = {}


class Recurring:
    """Runs one callback on a schedule until cancelled, its runs are used up, or the caller leaves.

    A schedule asked for by a peer is kept in that peer's link (``link.schedules``), so it ends when
    the link closes; one asked for by this node itself is kept in a module table.
    """

    def __init__(
        self,
        node: Node,
        callback: LocalCallback,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        plan: pb.Schedule,
        link: PeerLink | None = None,
        key: int | None = None,
    ) -> None:
        self._node = node
        self._callback = callback
        self._args = args
        self._kwargs = kwargs
        self._at_time = sorted(plan.at_time)
        self._period = plan.period
        self._link = link
        self.key = key if key is not None else next(_local_keys)
        self._handles: list[asyncio.TimerHandle] = []
        self._tick_handle: asyncio.TimerHandle | None = None
        self._left = len(self._at_time)
        self._running: set[asyncio.Future[Any]] = set()

    def start(self) -> None:
        loop = self._node.loop
        now = time.time()
        for at in self._at_time:
            self._handles.append(loop.call_later(max(0.0, at - now), self._fire_once))
        if self._period > 0:
            self._tick_handle = loop.call_later(self._period, self._tick)
        if self._link is not None:
            self._link.schedules[self.key] = self
        else:
            _local[(id(self._node), self.key)] = self

    def cancel(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._forget()

    @staticmethod
    def cancel_all_local(node: Node) -> None:
        """End every schedule this node keeps for itself (it is stopping)."""
        for recurring in [r for (owner, _), r in _local.items() if owner == id(node)]:
            recurring.cancel()

    @staticmethod
    def cancel_local(node: Node, key: int) -> None:
        recurring = _local.get((id(node), key))
        if recurring is not None:
            recurring.cancel()

    def _forget(self) -> None:
        if self._link is not None:
            self._link.schedules.pop(self.key, None)
        else:
            _local.pop((id(self._node), self.key), None)

    def _fire_once(self) -> None:
        self._run()
        self._left -= 1
        if self._left == 0 and self._period <= 0:
            self._forget()

    def _tick(self) -> None:
        self._tick_handle = self._node.loop.call_later(self._period, self._tick)
        self._run()

    def _run(self) -> None:
        if self._node.stopping:
            return
        future = self._node.run_callback(self._callback, self._args, self._kwargs)
        self._running.add(future)
        future.add_done_callback(self._ran)

    def _ran(self, future: asyncio.Future[Any]) -> None:
        self._running.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.warning(
                "node %s: scheduled run of %r failed: %r", self._node.name, self._callback.name, future.exception()
            )
