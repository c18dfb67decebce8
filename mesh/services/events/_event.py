"""What a reader or subscriber gets: :class:`Event`, and how its payload travels.

The publisher pickles the payload (pickle, dill for what pickle cannot write, as the mesh does) and
the service keeps those bytes as they are: the service never loads a payload, so a payload of a
class that only the publisher and the subscribers can import goes through. The bytes are loaded
back on the node that receives the event.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from typing import Any, overload

import dill

from mesh import SerializationError


class Event:
    """One event of a topic: its ``offset`` in the topic (0, 1, 2, ... in the order the service wrote
    them), the ``time`` (seconds since the epoch) it was written, and the ``payload`` published.

    Read-only. The payload travels pickled and is loaded on this node when first read, so an event
    whose payload's class this node cannot import still arrives (reading ``payload`` then raises
    :class:`~mesh.SerializationError`), and the service, which never reads payloads, never loads one.
    """

    __slots__ = ("_data", "_offset", "_payload", "_time", "_topic")

    def __init__(self, topic: str, offset: int, time: float, payload: Any) -> None:
        self._topic = topic
        self._offset = offset
        self._time = time
        self._payload = payload
        self._data: bytes | None = None

    @classmethod
    def stored(cls, topic: str, offset: int, time: float, data: bytes) -> Event:
        """The event as the service keeps it: ``data`` is the payload pickled by the publisher."""
        event = cls.__new__(cls)
        event._topic = topic
        event._offset = offset
        event._time = time
        event._payload = _UNLOADED
        event._data = data
        return event

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def time(self) -> float:
        return self._time

    @property
    def payload(self) -> Any:
        if self._payload is _UNLOADED:
            try:
                self._payload = pickle.loads(self._data)  # type: ignore[arg-type]
            except Exception as exc:
                raise SerializationError(
                    f"event {self._offset} of {self._topic!r}: cannot load its payload here: {exc}"
                ) from exc
        return self._payload

    def _pickled_payload(self) -> bytes:
        if self._data is None:
            self._data = encode_payload(self._topic, self._payload)
        return self._data

    def __reduce__(self) -> tuple[Any, ...]:
        return (Event.stored, (self._topic, self._offset, self._time, self._pickled_payload()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self._topic, self._offset, self._time, self.payload) == (
            other._topic,
            other._offset,
            other._time,
            other.payload,
        )

    def __hash__(self) -> int:
        return hash((self._topic, self._offset, self._time))

    def __repr__(self) -> str:
        return f"Event(topic={self._topic!r}, offset={self._offset!r}, time={self._time!r}, payload={self.payload!r})"


class EventRows(Sequence[Event]):
    """Events of one topic as the service reads them, rows of (offset, time, pickled payload): they
    travel as those rows (a few bytes of pickle each, where an :class:`Event` costs a call) and
    become Events as they are read."""

    __slots__ = ("rows", "topic")

    def __init__(self, topic: str, rows: list[tuple[int, float, bytes]]) -> None:
        self.topic = topic
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> EventRows: ...

    def __getitem__(self, index: int | slice) -> Event | EventRows:
        if isinstance(index, slice):
            return EventRows(self.topic, self.rows[index])
        offset, at, data = self.rows[index]
        return Event.stored(self.topic, offset, at, data)

    def __iter__(self) -> Iterator[Event]:
        stored, topic = Event.stored, self.topic
        return (stored(topic, offset, at, data) for offset, at, data in self.rows)

    def __reduce__(self) -> tuple[Any, ...]:
        return (EventRows, (self.topic, self.rows))


# A payload not loaded from its pickle yet.
_UNLOADED: Any = object()


def encode_payload(topic: str, payload: Any) -> bytes:
    """``payload`` as the bytes the service keeps; :class:`~mesh.SerializationError` if it cannot be pickled."""
    try:
        return pickle.dumps(payload, protocol=5)
    except Exception:
        try:
            return bytes(dill.dumps(payload, protocol=5))
        except Exception as exc:
            raise SerializationError(
                f"publish to {topic!r}: cannot pickle the payload, a {type(payload).__name__}: {exc}"
            ) from exc
