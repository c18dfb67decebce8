"""Sending one value to every reader of a stream, dropping the readers that stopped reading."""

from __future__ import annotations

from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

Sends = list[MemoryObjectSendStream[Any]]


async def send_all(readers: Sends, value: Any) -> None:
    """Send ``value`` to each reader; a reader that stopped reading is dropped from ``readers``."""
    for send in list(readers):
        try:
            await send.send(value)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            send.close()
            readers.remove(send)
