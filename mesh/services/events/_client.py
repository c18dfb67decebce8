"""``Events(g)``: the client of an events service. ``publish`` and ``read`` return the call, not yet made, so
every modifier applies: ``ev.publish(topic, payload) & FG``, ``ev.read(topic) & STREAM``.
``subscribe`` sets up a callback on this node first, so it is made at once and returns a
:class:`Subscription`."""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from mesh import FG, Global, RemoteCall, UsageError

from ._event import Event, encode_payload
from ._topics import check_pattern, check_topic


class Events:
    """The events service offered under ``prefix`` (``mesh serve events`` offers ``events``) in ``g``'s mesh.

    Raises:
        UsageError: ``prefix`` is not a dotted name.
    """

    def __init__(self, g: Global, prefix: str = "events") -> None:
        if not isinstance(prefix, str) or not all(part.isidentifier() for part in prefix.split(".")):
            raise UsageError(f"Events prefix is a dotted name such as 'events' or 'audit.events', not {prefix!r}")
        self._g = g
        self._prefix = prefix
        self._remote: Any = functools.reduce(getattr, prefix.split("."), g.call)

    def publish(self, topic: str, payload: Any) -> RemoteCall:
        """Append ``payload`` (anything the mesh can send) to ``topic``; the call's result is the event's
        offset, once the event is durable (written and fsynced).

        Raises:
            UsageError: ``topic`` is not a topic name.
            SerializationError: ``payload`` cannot be pickled.
        """
        call: RemoteCall = self._remote.publish(check_topic(topic), encode_payload(topic, payload))
        return call

    def publish_many(self, topic: str, payloads: Iterable[Any]) -> RemoteCall:
        """Append every one of ``payloads`` to ``topic``, in order, in one call and one durable
        transaction; the call's result is their offsets, consecutive. Many small events go faster
        this way than one call each, as a Redis pipeline does.

        Raises:
            UsageError: ``topic`` is not a topic name.
            SerializationError: a payload cannot be pickled.
        """
        call: RemoteCall = self._remote.publish_many(
            check_topic(topic), [encode_payload(topic, payload) for payload in payloads]
        )
        return call

    def read(self, topic: str, from_offset: int = 0, follow: bool = False) -> RemoteCall:
        """The :class:`Event` s of ``topic`` from ``from_offset`` on, in offset order, as a STREAM:
        ``for event in ev.read(topic) & STREAM``. It ends at the last event written, or with
        ``follow=True`` goes on with each new event until the caller stops."""
        call: RemoteCall = self._remote.read(check_topic(topic), from_offset, follow)
        return call

    def committed(self, group: str) -> RemoteCall:
        """``group``'s committed position in each topic, ``{topic: offset}``: the first offset it has not finished."""
        call: RemoteCall = self._remote.committed(group)
        return call

    def topics(self) -> RemoteCall:
        """``{topic: next offset}`` for every topic (the next offset is the number of events ever published)."""
        call: RemoteCall = self._remote.topics()
        return call

    def subscribe(
        self, topic: str, handler: Callable[[Event], Any], group: str | None = None, *, timeout: float = 30.0
    ) -> Subscription:
        """Have the service push each event of ``topic`` (a name or a pattern, ``"orders.*"``) to
        ``handler(event)`` on this node, from now on; returns once the service has the subscription.

        ``handler`` (sync, run in this node's worker threads, or async) gets the events of a topic in
        offset order. Without ``group`` every subscriber gets every event published after it
        subscribed. With ``group``, each event goes to one member of the group, and the group's
        position moves past it once the handler has returned; a member that subscribes later, or
        again after a restart, goes on from there (a new group starts at each topic's oldest event):
        at-least-once, the events handed out but not finished being handed out again. Call it from
        sync code; in async code use :meth:`subscribe_async`.
        """
        subscription = self._subscription(topic, handler, group)
        try:
            self._remote.subscribe(topic, self._g.process_name, subscription.name, group) & FG(timeout=timeout)
        except BaseException:
            self._g.unregister(subscription.name)
            raise
        return subscription

    async def subscribe_async(
        self, topic: str, handler: Callable[[Event], Any], group: str | None = None, *, timeout: float = 30.0
    ) -> Subscription:
        """:meth:`subscribe` for async code."""
        subscription = self._subscription(topic, handler, group)
        try:
            await (self._remote.subscribe(topic, self._g.process_name, subscription.name, group) & FG(timeout=timeout))
        except BaseException:
            self._g.unregister(subscription.name)
            raise
        return subscription

    def _subscription(self, topic: str, handler: Callable[[Event], Any], group: str | None) -> Subscription:
        check_pattern(topic)
        if not callable(handler):
            raise UsageError(f"subscribe to {topic!r}: the handler must be callable, not {type(handler).__name__}")
        if group is not None and (not isinstance(group, str) or not group):
            raise UsageError(f"subscribe to {topic!r}: a group is a non-empty str, not {group!r}")
        name = f"{self._prefix}_subscription_{uuid.uuid4().hex}"
        self._g.register(_deliverer(handler), name=name)
        return Subscription(self, topic, group, name)


class Subscription:
    """A subscription of this node: :meth:`close` (or the end of a ``with`` block) ends it."""

    def __init__(self, events: Events, topic: str, group: str | None, name: str) -> None:
        self.topic = topic
        self.group = group
        self.name = name
        """The callback that receives the events, on this node."""
        self._events = events
        self._closed = False

    def close(self, timeout: float = 30.0) -> None:
        """Stop the service pushing events here, then withdraw the callback. Idempotent."""
        if self._closed:
            return
        self._closed = True
        events = self._events
        try:
            events._remote.unsubscribe(events._g.process_name, self.name) & FG(timeout=timeout)
        finally:
            events._g.unregister(self.name)

    async def close_async(self, timeout: float = 30.0) -> None:
        """:meth:`close` for async code."""
        if self._closed:
            return
        self._closed = True
        events = self._events
        try:
            await (events._remote.unsubscribe(events._g.process_name, self.name) & FG(timeout=timeout))
        finally:
            events._g.unregister(self.name)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _deliverer(handler: Callable[[Event], Any]) -> Callable[[list[Event]], Any]:
    """The callback the service calls with a batch of events: ``handler`` on each, in order."""
    if inspect.iscoroutinefunction(handler):

        async def deliver_async(events: list[Event]) -> None:
            for event in events:
                await handler(event)

        return deliver_async

    def deliver(events: list[Event]) -> None:
        for event in events:
            handler(event)

    return deliver
