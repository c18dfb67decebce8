"""PERIOD: a callback run at given times or every N seconds, kept on the node that runs it
(:class:`Schedule`), and the caller's handle of it (:class:`ScheduledCall`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CallCancelled
from ..wire._proto import mesh_pb2 as pb
from ._handoff import running_loop

if TYPE_CHECKING:
    from ..wire._link import PeerLink
    from ._registry import LocalCallback

logger = logging.getLogger("mesh")


class ScheduleHost(Protocol):
    """What a schedule needs of the node that keeps or asked for it."""

    name: str
    loop: asyncio.AbstractEventLoop
    stopping: bool

    def run_callback(
        self, callback: LocalCallback, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[Any]: ...

    def cancel_schedule(self, link: PeerLink | None, key: int) -> None: ...


_local_keys = itertools.count(1)
_local: dict[tuple[int, int], Schedule] = {}


class Schedule:
    """Runs one callback on a schedule until cancelled, its runs are used up, or the caller leaves.

    A schedule asked for by a peer is kept in that peer's link (``link.schedules``), so it ends when
    the link closes; one asked for by this node itself is kept in a module table.
    """

    def __init__(
        self,
        node: ScheduleHost,
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
    def cancel_all_local(node: ScheduleHost) -> None:
        """End every schedule this node keeps for itself (it is stopping)."""
        for schedule in [s for (owner, _), s in _local.items() if owner == id(node)]:
            schedule.cancel()

    @staticmethod
    def cancel_local(node: ScheduleHost, key: int) -> None:
        schedule = _local.get((id(node), key))
        if schedule is not None:
            schedule.cancel()

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


class ScheduledCall:
    """The handle of a PERIOD call; :meth:`cancel` ends the schedule on the callee.

    In sync code it comes back once the callee has acknowledged the schedule. In async code it comes
    back at once, and the schedule is set up in the background: ``await handle`` waits for the
    acknowledgement and raises what failed. A failure nobody awaits is logged as an error.
    """

    __slots__ = ("_awaited", "_background", "_key", "_link", "_node", "cancelled", "name", "setting_up")

    def __init__(self, name: str, background: bool) -> None:
        self.name = name
        self.cancelled = False
        # The setup running in the background (async code), which ``await`` waits for.
        self.setting_up: concurrent.futures.Future[ScheduledCall] | None = None
        self._background = background
        self._awaited = False
        self._node: ScheduleHost | None = None
        self._link: PeerLink | None = None
        self._key = 0

    def __repr__(self) -> str:
        if self._node is None:
            return f"<ScheduledCall of {self.name!r}: {'cancelled' if self.cancelled else 'being set up'}>"
        where = self._link.peer_name if self._link is not None else self._node.name
        return f"<ScheduledCall of {self.name!r} on {where!r}>"

    def cancel(self) -> None:
        """Stop the schedule (or, still being set up, end it as soon as it exists); safe from any
        thread, and more than once."""
        self.cancelled = True
        node = self._node
        if node is None:
            return  # bind() sees the flag
        loop = node.loop
        if loop.is_closed():
            return
        if running_loop() is loop:
            node.cancel_schedule(self._link, self._key)
        else:
            loop.call_soon_threadsafe(node.cancel_schedule, self._link, self._key)

    def bind(self, node: ScheduleHost, link: PeerLink | None, key: int) -> None:
        """The schedule exists: kept by ``link``'s peer (None: by ``node``) as ``key``. On the node's loop."""
        self._node, self._link, self._key = node, link, key
        if self.cancelled:
            node.cancel_schedule(link, key)

    async def watch(self, setup: Awaitable[None]) -> ScheduledCall:
        """Run ``setup``; log its failure if nobody awaits this handle."""
        try:
            await setup
        except Exception as exc:
            if self._background and not self._awaited:
                logger.error("PERIOD call of %r failed, and nothing awaited its ScheduledCall: %r", self.name, exc)
            raise
        return self

    def __await__(self) -> Generator[Any, None, ScheduledCall]:
        return self._acknowledged().__await__()

    async def _acknowledged(self) -> ScheduledCall:
        setting_up = self.setting_up
        if setting_up is not None:
            self._awaited = True
            try:
                # Shielded: a waiter that gives up (a timeout around the await) leaves the setup alone,
                # so no schedule is left on the callee without its handle.
                await asyncio.shield(asyncio.wrap_future(setting_up))
            except asyncio.CancelledError:
                if setting_up.cancelled():
                    raise CallCancelled(f"the PERIOD call of {self.name!r} was cancelled (its node stopped)") from None
                raise
        return self
