"""Delivery to subscribers: a :class:`Group` per consumer group (and one per subscriber without a group).

A group's dispatcher (a task on the service node's loop) reads the topics its pattern matches from
the group's position on, in batches, and hands each batch to one free member, round robin, with
``FG(receiver=member)``: a member has one batch at a time, so it sees the events of a topic in offset
order. When the member's handler has returned for the whole batch, the batch is done, and the group's
committed position in the topic moves past every batch done before it::

    topic "orders":  0 1 2 | 3 4 5 | 6 7 8 | 9 ...
                     done    to B    done    not read yet
                           ^ committed: 3 (6-8 wait for 3-5)

A batch whose member left (its node died or unsubscribed) goes to the next free member; one whose
handler raised is handed out again after :data:`HANDLER_RETRY_AFTER` seconds (at-least-once: a handler that
always raises holds its group's position there). A member given a batch again may already have
seen later events.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mesh import FG, Global, NodeStopped, PeerUnavailable, UnknownCallback

from ._event import EventRows
from ._topics import matches

BATCH = 100
"""Events handed to a member in one call, at most."""
HANDLER_RETRY_AFTER = 1.0

_log = logging.getLogger("mesh.services.events")

Read = Callable[[str, int], Awaitable[EventRows]]


@dataclass(eq=False)
class Member:
    """A subscriber: the callback ``handler`` on node ``node``; ``present`` once its node is in the mesh
    (a subscription taken up again after a restart of the service waits for its node)."""

    node: str
    handler: str
    present: bool = True
    busy: bool = False


@dataclass
class Batch:
    """Offsets ``start`` to ``end`` (excluded) of ``topic``: ``events``, and the ones retention dropped."""

    topic: str
    start: int
    end: int
    events: EventRows = field(repr=False)


class Group:
    """One group's members, position and dispatcher.

    ``positions`` is where the group starts in each topic it has a position in; ``start(topic)``
    where it starts in the others. ``on_commit(topic, next)`` is told each move of the committed
    position, ``on_gone(member)`` each member dropped because its node or handler is gone;
    ``topics()`` gives every topic's next offset.
    """

    def __init__(
        self,
        g: Global,
        name: str | None,
        pattern: str,
        positions: dict[str, int],
        start: Callable[[str], int],
        topics: Callable[[], dict[str, int]],
        read: Read,
        on_commit: Callable[[str, int], None] | None,
        on_gone: Callable[[Member], Awaitable[None]],
    ) -> None:
        self.name = name
        self.pattern = pattern
        self.members: list[Member] = []
        self._g = g
        self._cursor = dict(positions)
        self._committed = dict(positions)
        self._done: dict[str, dict[int, int]] = {}
        self._start = start
        self._topics = topics
        self._read = read
        self._on_commit = on_commit
        self._on_gone = on_gone
        self._retry: list[Batch] = []
        self._turn = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    def committed(self) -> dict[str, int]:
        """The first offset of each topic the group has not finished."""
        return dict(self._committed)

    def add(self, member: Member) -> None:
        """Add ``member``, unless its handler is one already (a subscription made again)."""
        if any(m.node == member.node and m.handler == member.handler for m in self.members):
            return
        self.members.append(member)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._dispatch())
        self.wake()

    def remove(self, node: str, handler: str | None = None) -> bool:
        """Drop the members on ``node`` (that one handler only, when given); whether one was dropped."""
        before = len(self.members)
        self.members = [m for m in self.members if not (m.node == node and handler in (None, m.handler))]
        self.wake()
        return len(self.members) < before

    def arrived(self, node: str) -> None:
        """Node ``node`` is in the mesh: its members may be given events."""
        for member in self.members:
            if member.node == node:
                member.present = True
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        tasks = [*self._deliveries, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _dispatch(self) -> None:
        while self.members:
            self._wake.clear()
            member = self._free_member()
            if member is not None:
                batch = self._take_retry() or await self._next_batch()
                if batch is not None:
                    member.busy = True
                    task = asyncio.get_running_loop().create_task(self._deliver(member, batch))
                    self._deliveries.add(task)
                    task.add_done_callback(self._deliveries.discard)
                    continue
            await self._wake.wait()

    def _free_member(self) -> Member | None:
        count = len(self.members)
        for step in range(count):
            member = self.members[(self._turn + step) % count]
            if member.present and not member.busy:
                self._turn = (self._turn + step + 1) % count
                return member
        return None

    def _take_retry(self) -> Batch | None:
        if not self._retry:
            return None
        first = min(self._retry, key=lambda batch: batch.start)
        self._retry.remove(first)
        return first

    async def _next_batch(self) -> Batch | None:
        ends = self._topics()
        names = sorted(topic for topic in ends if matches(self.pattern, topic))
        for step in range(len(names)):
            topic = names[(self._turn + step) % len(names)]
            if topic not in self._cursor:
                self._cursor[topic] = self._committed[topic] = self._start(topic)
            start = self._cursor[topic]
            if start >= ends[topic]:
                continue
            events = await self._read(topic, start)
            end = events[-1].offset + 1 if events else ends[topic]
            self._cursor[topic] = end
            batch = Batch(topic, start, end, events)
            if events:
                return batch
            self._finish(batch)
        return None

    async def _deliver(self, member: Member, batch: Batch) -> None:
        handler: Any = functools.reduce(getattr, member.handler.split("."), self._g.call)
        retry_after = 0.0
        try:
            await (handler(batch.events) & FG(receiver=member.node))
        except (PeerUnavailable, UnknownCallback):
            if self.remove(member.node, member.handler):
                await self._on_gone(member)
            self._retry.append(batch)
        except NodeStopped:
            return
        except Exception as exc:
            _log.warning(
                "events: %s's handler %s raised on %s offsets %d-%d; handed out again in %.0f s: %r",
                member.node, member.handler, batch.topic, batch.start, batch.end - 1, HANDLER_RETRY_AFTER, exc,
            )  # fmt: skip
            retry_after = HANDLER_RETRY_AFTER
        else:
            self._finish(batch)
        finally:
            if retry_after:
                await asyncio.sleep(retry_after)
                self._retry.append(batch)
            member.busy = False
            self.wake()

    def _finish(self, batch: Batch) -> None:
        done = self._done.setdefault(batch.topic, {})
        done[batch.start] = batch.end
        position = self._committed[batch.topic]
        while position in done:
            position = done.pop(position)
        if position != self._committed[batch.topic]:
            self._committed[batch.topic] = position
            if self._on_commit is not None:
                self._on_commit(batch.topic, position)
