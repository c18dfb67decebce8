"""What a reader or subscriber gets: :class:`Event`, and how its payload travels.

The publisher pickles the payload (pickle, dill for what pickle cannot write, as the mesh does) and
the service keeps those bytes as they are: the service never loads a payload, so a payload of a
class that only the publisher and the subscribers can import goes through. The bytes are loaded
back on the node that receives the event.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import dill

from mesh import SerializationError


@dataclass(frozen=True)
class Event:
    """One event of a topic: its ``offset`` in the topic (0, 1, 2, ... in the order the service wrote
    them), the ``time`` (seconds since the epoch) it was written, and the ``payload`` published."""

    topic: str
    offset: int
    time: float
    payload: Any


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


def _loaded(topic: str, offset: int, time: float, data: bytes) -> Event:
    return Event(topic, offset, time, pickle.loads(data))


class StoredEvent:
    """An event as the service holds it, payload still pickled; it arrives as an :class:`Event`."""

    __slots__ = ("data", "offset", "time", "topic")

    def __init__(self, topic: str, offset: int, time: float, data: bytes) -> None:
        self.topic = topic
        self.offset = offset
        self.time = time
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return (_loaded, (self.topic, self.offset, self.time, self.data))
