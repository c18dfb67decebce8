"""The event bus plugins: ``mesh`` (the mesh's events service) and ``redis`` (Redis Streams)."""

from __future__ import annotations

import contextlib
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import Any

from mesh import FG, Global, UsageError
from mesh.services import Event, Events

from ._interfaces import EventBusInterface
from ._node import node_of
from ._registry import register_plugin


@register_plugin(EventBusInterface, name="mesh")
class MeshEventBus(EventBusInterface):
    """The events service under ``prefix`` (``mesh serve events``), called through ``g`` (in a job run by
    ``serve_tasks``, the worker's node when ``g`` is left out). Topics are the service's dotted names."""

    def __init__(self, g: Global | None = None, prefix: str = "events") -> None:
        self.events = Events(node_of("mesh event bus", g), prefix=prefix)

    def publish(self, topic: str, payload: Any) -> None:
        """Publish, once the service has the event on disk."""
        self.events.publish(topic, payload) & FG

    def subscribe(self, topic: str, handler: Callable[[Any], Any]) -> Callable[[], None]:
        """``handler(payload)`` on this node for each event of ``topic`` (or pattern) published from now on."""

        def deliver(event: Event) -> Any:
            return handler(event.payload)

        return self.events.subscribe(topic, deliver).close


@register_plugin(EventBusInterface, name="redis")
class RedisEventBus(EventBusInterface):
    """A Redis stream per topic, under the key ``key_prefix + topic``, at ``url`` (``redis://HOST:PORT/DB``;
    ``pip install 'grpcmesh[redis]'``). Payloads are pickled: whoever can write the stream runs code in
    the subscribers."""

    def __init__(self, url: str, key_prefix: str = "mesh:bus:") -> None:
        try:
            import redis
        except ImportError as error:
            raise UsageError("the redis event bus needs redis-py: pip install 'grpcmesh[redis]'") from error
        self.url = url
        self.key_prefix = key_prefix
        self._client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._down = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """A server that does not answer, as ``ConnectionError`` naming it."""
        try:
            yield
        except self._down as error:
            where = self._client.get_connection_kwargs()
            address = f"{where.get('host')}:{where.get('port')}/{where.get('db')}"
            raise ConnectionError(f"the redis event bus at {address} does not answer: {error}") from error

    def publish(self, topic: str, payload: Any) -> None:
        """``XADD`` the pickled payload, once the server has it; ``ConnectionError`` when it does not answer."""
        with self._answering():
            self._client.xadd(self.key_prefix + topic, {"payload": pickle.dumps(payload)})

    def subscribe(self, topic: str, handler: Callable[[Any], Any]) -> Callable[[], None]:
        """A thread reading the stream (``XREAD``) from its last entry now, calling ``handler(payload)``
        in order; the function returned stops it and waits for it."""
        key = self.key_prefix + topic
        with self._answering():
            last = self._client.xrevrange(key, count=1)
        reader = _StreamReader(self._client, key, last[0][0] if last else b"0-0", handler)
        reader.start()
        return reader.stop


class _StreamReader(threading.Thread):
    """Reads one Redis stream after ``position``, half a second at a time, until stopped."""

    def __init__(self, client: Any, key: str, position: bytes, handler: Callable[[Any], Any]) -> None:
        super().__init__(name=f"redis-bus {key}", daemon=True)
        self.client = client
        self.key = key
        self.position = position
        self.handler = handler
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for _, entries in self.client.xread({self.key: self.position}, block=500) or []:
                for entry_id, fields in entries:
                    if self.stopping.is_set():
                        return
                    self.handler(pickle.loads(fields[b"payload"]))
                    self.position = entry_id

    def stop(self) -> None:
        self.stopping.set()
        self.join()
