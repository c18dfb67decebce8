"""The events service's callbacks (:class:`EventsService`) and :func:`serve_events`, which offers them from
one node under a dotted prefix (``events.publish``, ``events.read``, ...).

Every callback is async: it runs on the hosting node's loop and holds no worker thread, so a
``read`` that follows a topic, or a group waiting for events, costs a task, not a thread. SQLite's
calls run in the writer's thread (writes) and the loop's default executor (reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from mesh import FG, Batch, Global, NodeStopped, UsageError

from ._event import EventRows
from ._groups import BATCH, Group, Member
from ._log import EventStore
from ._topics import check_pattern, check_topic
from ._writer import Writer

READ_BATCH = 1000
"""Events a ``read`` takes from the log at a time."""


def serve_events(g: Global, log: EventStore, prefix: str = "events") -> ServedEvents:
    """Offer an events service over ``log`` from ``g``'s node only, as ``<prefix>.publish`` and the rest.

    Returns its handle: ``close()`` (``await close_async()`` in async code) withdraws the callbacks,
    ends the deliveries, writes what is waiting and closes the log. The subscriptions kept in the log
    are taken up again: before it returns in sync code, in a task of the running loop in async code.
    """
    service = EventsService(g, log)
    g.register(service, prefix=prefix)
    g.add_gauges(service._gauges)
    g.on_node_join(service._node_joined)
    g.on_node_leave(service._node_left)
    restored = functools.reduce(getattr, prefix.split("."), g.call).restore() & FG(receiver=g.process_name)
    if inspect.isawaitable(restored):
        service._restoring = asyncio.ensure_future(restored)
    return ServedEvents(g, prefix, service)


class ServedEvents:
    """An events service offered by a node: :meth:`close` it before the node stops."""

    def __init__(self, g: Global, prefix: str, service: EventsService) -> None:
        self.service = service
        self._g = g
        self._prefix = prefix

    def close(self) -> None:
        """Withdraw ``<prefix>.*``, end the deliveries, write what is waiting and close the log. Idempotent.

        After ``g.stop()`` it does what is left: the node's stop has ended the deliveries.

        Raises:
            UsageError: called on the node's own loop, which it would block: ``await close_async()``.
        """
        if self.service._closed:
            return
        if self.service._loop is not None and _running_loop() is self.service._loop:
            raise UsageError("ServedEvents.close() would block the node's loop: await served.close_async()")
        with contextlib.suppress(NodeStopped):
            self._g.unregister(self._prefix)
        self._g.remove_gauges(self.service._gauges)
        self.service._close()

    async def close_async(self) -> None:
        """:meth:`close` for async code."""
        if self.service._closed:
            return
        with contextlib.suppress(NodeStopped):
            self._g.unregister(self._prefix)
        self._g.remove_gauges(self.service._gauges)
        await self.service._close_async()


class EventsService:
    """The callbacks of an events service over ``log``; :class:`~mesh.services.Events` calls them."""

    def __init__(self, g: Global, log: EventStore) -> None:
        self._g = g
        self._log = log
        self._writer = Writer(log)
        self._next = log.next_offsets()
        self._groups: dict[str, Group] = {}
        self._solo: dict[tuple[str, str], Group] = {}
        self._new_events: set[asyncio.Event] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._restored = False
        self._restoring: asyncio.Future[Any] | None = None

    async def publish(self, topic: str, data: bytes) -> int:
        """Append an event (its payload pickled by the client) to ``topic``; its offset, once durable."""
        check_topic(topic)
        if type(data) is not bytes:
            raise TypeError(f"publish to {topic!r}: the payload arrives pickled, as bytes; publish with Events(g)")
        (offset,) = await self._writer.append([(topic, data)])
        self._written(topic, offset)
        return offset

    async def publish_many(self, topic: str, datas: list[bytes]) -> list[int]:
        """Append events (their payloads pickled by the client) to ``topic`` in one transaction; their
        offsets, in order, once durable."""
        check_topic(topic)
        if not isinstance(datas, list) or any(type(data) is not bytes for data in datas):
            raise TypeError(f"publish to {topic!r}: the payloads arrive pickled, as bytes; publish with Events(g)")
        if not datas:
            return []
        offsets = await self._writer.append([(topic, data) for data in datas])
        self._written(topic, offsets[-1])
        return offsets

    def _written(self, topic: str, last: int) -> None:
        if last >= self._next.get(topic, 0):
            self._next[topic] = last + 1
        self._ring()

    async def read(self, topic: str, from_offset: int = 0, follow: bool = False) -> AsyncIterator[Batch]:
        """The events of ``topic`` from ``from_offset`` on (from the oldest kept, if retention dropped it),
        in order; with ``follow``, then each new one as it is written, until the caller stops."""
        check_topic(topic)
        if not isinstance(from_offset, int) or from_offset < 0:
            raise UsageError(f"read {topic!r}: from_offset must be an int >= 0, not {from_offset!r}")
        at = from_offset
        new_events = asyncio.Event()
        self._new_events.add(new_events)
        try:
            while True:
                new_events.clear()
                events = await asyncio.to_thread(self._log.read, topic, at, READ_BATCH)
                if events:
                    yield Batch(events)
                    at = events[-1].offset + 1
                    continue
                if not follow:
                    return
                await new_events.wait()
        finally:
            self._new_events.discard(new_events)

    async def subscribe(self, pattern: str, node: str, handler: str, group: str | None = None) -> None:
        """Push the events of the topics ``pattern`` matches to callback ``handler`` of node ``node``, in
        batches; with ``group``, each event to one member of the group, from its committed position.
        The subscription is kept in the log, and taken up again when the service restarts."""
        check_pattern(pattern)
        if group is not None and (not isinstance(group, str) or not group):
            raise UsageError(f"a group is a non-empty str, not {group!r}")
        await self._add(pattern, Member(node, handler), group)
        await asyncio.to_thread(self._log.save_subscription, node, handler, pattern, group)

    async def restore(self) -> int:
        """Take up the subscriptions kept in the log (``serve_events`` does, once); how many. A member
        is given events once its node is in the mesh. Again: nothing, 0."""
        if self._restored:
            return 0
        self._restored = True
        present = {member["name"] for member in self._g.members()}
        saved = await asyncio.to_thread(self._log.subscriptions)
        for node, handler, pattern, group in saved:
            await self._add(pattern, Member(node, handler, present=node in present), group)
        return len(saved)

    async def _add(self, pattern: str, member: Member, group: str | None) -> None:
        if group is None:
            ends = dict(self._next)
            solo = self._group(None, pattern, ends, lambda topic: ends.get(topic, 0))
            self._solo[member.node, member.handler] = solo
            solo.add(member)
            return
        known = self._groups.get(group)
        if known is not None and known.pattern != pattern:
            if known.members:
                raise UsageError(f"group {group!r} reads {known.pattern!r}; a member cannot subscribe to {pattern!r}")
            await known.close()
            known = None
        if known is None:
            positions = await asyncio.to_thread(self._log.committed, group)
            known = self._groups[group] = self._group(group, pattern, positions, lambda topic: 0)
        known.add(member)

    async def unsubscribe(self, node: str, handler: str) -> bool:
        """Stop pushing to ``handler`` of ``node``, and forget the subscription; whether there was one."""
        await asyncio.to_thread(self._log.drop_subscriptions, node, handler)
        solo = self._solo.pop((node, handler), None)
        if solo is not None:
            await solo.close()
            return True
        return any([group.remove(node, handler) for group in self._groups.values()])

    async def committed(self, group: str) -> dict[str, int]:
        """``group``'s committed position in each topic: the first offset it has not finished."""
        known = self._groups.get(group)
        if known is not None:
            return known.committed()
        return await asyncio.to_thread(self._log.committed, group)

    async def topics(self) -> dict[str, int]:
        """Every topic and its next offset (the number of events ever published to it)."""
        return dict(self._next)

    async def _node_joined(self, node: str) -> None:
        if self._closed:
            return
        for group in (*self._groups.values(), *self._solo.values()):
            group.arrived(node)

    async def _node_left(self, node: str) -> None:
        """A node left the mesh: its subscriptions end."""
        if self._closed:  # the hook outlives the service: the node has no way to remove it
            return
        await asyncio.to_thread(self._log.drop_subscriptions, node)
        for key in [key for key in self._solo if key[0] == node]:
            await self._solo.pop(key).close()
        for group in self._groups.values():
            group.remove(node)

    def _group(self, name: str | None, pattern: str, positions: dict[str, int], start: Callable[[str], int]) -> Group:
        self._loop = asyncio.get_running_loop()
        on_commit = None if name is None else functools.partial(self._writer.commit, name)
        return Group(
            self._g, name, pattern, positions, start,
            topics=lambda: self._next, read=self._read_batch, on_commit=on_commit, on_gone=self._gone,
        )  # fmt: skip

    async def _gone(self, member: Member) -> None:
        self._solo.pop((member.node, member.handler), None)
        await asyncio.to_thread(self._log.drop_subscriptions, member.node, member.handler)

    async def _read_batch(self, topic: str, start: int) -> EventRows:
        return await asyncio.to_thread(self._log.read, topic, start, BATCH)

    def _ring(self) -> None:
        for new_events in self._new_events:
            new_events.set()
        for group in (*self._groups.values(), *self._solo.values()):
            group.wake()

    def _gauges(self) -> list[tuple[str, dict[str, str], float]]:
        """Each topic's events, and each group's lag in each topic it reads (the events published and
        not yet committed), as gauges of the node's statistics (``Global.add_gauges``). On the loop."""
        rows = [("mesh_events_published", {"topic": topic}, float(n)) for topic, n in sorted(self._next.items())]
        for name, group in sorted(self._groups.items()):
            for topic, position in sorted(group.committed().items()):
                lag = max(self._next.get(topic, 0) - position, 0)
                rows.append(("mesh_events_lag", {"topic": topic, "group": name}, float(lag)))
        return rows

    def _close(self) -> None:
        self._closed = True
        if self._loop is not None and self._loop.is_running():
            groups = [*self._groups.values(), *self._solo.values()]
            ending = asyncio.run_coroutine_threadsafe(_close_all(groups), self._loop)
            ending.result(timeout=10)
        self._writer.close()
        self._log.close()

    async def _close_async(self) -> None:
        self._closed = True
        await _close_all([*self._groups.values(), *self._solo.values()])
        await asyncio.to_thread(self._writer.close)
        self._log.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _close_all(groups: list[Group]) -> None:
    for group in groups:
        await group.close()
