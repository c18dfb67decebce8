"""The events service: topics of events, durable, read back from any offset and pushed to subscribers.

Host it with ``mesh serve events --path DIR`` or in code::

    served = serve_events(g, EventLog("/srv/events"))

and use it from any node of the mesh::

    ev = Events(g)
    offset = ev.publish("orders.eu", {"id": 7}) & FG
    for event in ev.read("orders.eu") & STREAM: ...
    ev.subscribe("orders.*", handler, group="billing")
"""

from __future__ import annotations

from ._client import Events, Subscription
from ._event import Event
from ._log import EventLog, EventStore, Retention
from ._service import EventsService, ServedEvents, serve_events

__all__ = [
    "Event",
    "EventLog",
    "EventStore",
    "Events",
    "EventsService",
    "RedisLog",
    "Retention",
    "ServedEvents",
    "Subscription",
    "serve_events",
]


def __getattr__(name: str) -> object:
    # RedisLog imports redis-py, an extra: only when it is asked for.
    if name == "RedisLog":
        from ._redis import RedisLog

        return RedisLog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
