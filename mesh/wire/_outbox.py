"""A link's outbox: the envelopes queued since its last write, coalesced into frames, and their writer.

Envelopes queued while a write is in flight go out together in one ``Frame`` (batching is how Python
gRPC goes fast), split only where a frame would pass the peer's message size limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from ._frames import Blob, Outgoing, write_frame
from ._proto import mesh_pb2 as pb


class Outbox:
    """Frames waiting for the writer; the last one takes new envelopes, and its blobs their buffers."""

    def __init__(self, limit: int) -> None:
        # What one frame may weigh: the peer's receive limit.
        self.limit = limit
        self._frames: list[Outgoing] = []
        self._frame: pb.Frame
        self._blobs: list[Blob]
        self._frame_bytes = 0
        # The bytes queued so far (each envelope's size, as its sender reckons it): the link's bytes out.
        self.queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._new_frame()

    def _new_frame(self) -> None:
        self._frame = pb.Frame()
        self._blobs = []
        self._frames.append((self._frame, self._blobs))
        self._frame_bytes = 0

    def envelope(self, call_id: int, size: int, buffers: Sequence[Blob] = ()) -> pb.Envelope:
        """A new envelope of call ``call_id`` (0: of no call) of about ``size`` bytes, its out-of-band
        ``buffers`` included, queued with those buffers in the same frame; the caller fills in its body."""
        if self._frame_bytes and self._frame_bytes + size > self.limit:
            self._new_frame()
        self._frame_bytes += size
        self.queued_bytes += size
        if not self._wakeup.is_set():
            self._wakeup.set()
        if buffers:
            self._blobs.extend(buffers)
        envelope: pb.Envelope = self._frame.items.add()
        envelope.id = call_id
        return envelope

    async def write_loop(self, write: Callable[[Outgoing | bytes], Awaitable[None]]) -> None:
        """Write whatever is queued, a frame at a time, as long as the link lives."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            frames, self._frames = self._frames, []
            self._new_frame()
            for frame, blobs in frames:
                if frame.items:
                    await write_frame(write, frame, blobs)
