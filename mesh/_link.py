"""A peer link: the one bidirectional ``Connect`` stream between two nodes.

Calls travel both ways, multiplexed by call id. Envelopes queued while a write is in flight are
coalesced into one ``Frame`` (batching is how Python gRPC goes fast), split only where a frame would
pass the message size limit.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from ._codec import NO_BUFFERS, Encoded, describe
from ._proto import mesh_pb2 as pb
from ._wire import Blob, Buffers, Outgoing, Reply, read_frame, write_frame
from .errors import MeshError, PayloadTooLarge, PeerUnavailable

if TYPE_CHECKING:
    from ._config import NodeConfig
    from ._departures import Departures
    from ._workers import Job

logger = logging.getLogger("mesh")


class ReplyWaiter(Protocol):
    """Where a reply goes: the loop's own future, or a caller thread's :class:`~mesh._handoff.ReplyFuture`."""

    def done(self) -> bool: ...

    def set_result(self, result: Any) -> None: ...

    def set_exception(self, exception: BaseException) -> None: ...


class FrameStream(Protocol):
    """The read/write face shared by a client call and a server context."""

    def read(self) -> Awaitable[Any]: ...

    def write(self, message: Outgoing | bytes) -> Awaitable[None]: ...


class LinkHost(Protocol):
    """What a link needs of its node: its loop and settings, and where the envelopes it reads go."""

    loop: asyncio.AbstractEventLoop
    config: NodeConfig
    departures: Departures

    def on_call(self, link: PeerLink, call_id: int, call: pb.Call, buffers: Buffers) -> None: ...

    def on_cancel(self, link: PeerLink, call_id: int) -> None: ...

    def on_offer(self, link: PeerLink, callbacks: list[str]) -> None: ...

    def on_link_closed(self, link: PeerLink) -> None: ...


class PeerLink:
    """One live link to one peer node."""

    def __init__(
        self,
        node: LinkHost,
        hello: pb.Hello,
        stream: FrameStream,
        dialled_by: str,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.node = node
        self.peer_id = hello.node_id
        self.peer_name = hello.node_name
        self.peer_address = hello.address
        self.dialled_by = dialled_by
        self.closed = False
        self.close_reason = ""
        self.incoming: dict[int, asyncio.Future[Any] | Job] = {}
        self.schedules: dict[int, Any] = {}
        self._stream = stream
        self._on_close = on_close
        # Frames waiting for the writer; the last one takes new envelopes, and its blobs their buffers.
        self._frames: list[Outgoing] = []
        self._frame: pb.Frame
        self._blobs: list[Blob]
        self._new_frame()
        self._blob_cursor = 0
        own_limit = node.config.max_message_size
        # The peer's receive limit bounds what this link may send; 0 means it did not say.
        self.peer_limit = min(own_limit, hello.max_message_size or own_limit)
        self._wakeup = asyncio.Event()
        self._pending: dict[int, ReplyWaiter] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._close_error: MeshError | None = None
        self._done = asyncio.Event()

    @property
    def in_flight(self) -> int:
        """Calls sent and not yet answered, plus calls received and still running."""
        return len(self._pending) + len(self.incoming)

    # ------------------------------------------------------------------ outgoing

    def _new_frame(self) -> None:
        self._frame = pb.Frame()
        self._blobs = []
        self._frames.append((self._frame, self._blobs))
        self._frame_bytes = 0

    def _envelope(self, size: int) -> pb.Envelope:
        if self._frame_bytes and self._frame_bytes + size > self.peer_limit:
            self._new_frame()
        self._frame_bytes += size
        if not self._wakeup.is_set():
            self._wakeup.set()
        envelope: pb.Envelope = self._frame.items.add()
        return envelope

    def send_call(
        self,
        name: str,
        encoded: Encoded,
        flags: int,
        timeout: float | None,
        schedule: pb.Schedule | None = None,
        waiter: ReplyWaiter | None = None,
    ) -> tuple[int, asyncio.Future[Reply] | None]:
        """Queue a call; returns its id and the future of its reply.

        The future is None for a NO_RETURN call, and when ``waiter`` is given: the reply goes to it.
        """
        if self.closed:
            raise PeerUnavailable(self.peer_name, self.close_reason or "the link is closed")
        too_large = self.too_large("arguments", name, encoded.size)
        if too_large is not None:
            raise too_large
        call_id = next(self._ids)
        envelope = self._envelope(encoded.size + len(name) + 32)
        envelope.id = call_id
        call = envelope.call
        call.name = name
        call.args = encoded.data
        if encoded.buffers:
            call.buffer_count = len(encoded.buffers)
            self._blobs.extend(encoded.buffers)
        if encoded.dill:
            flags |= pb.CALL_FLAG_DILL
        call.flags = flags
        if timeout:
            call.timeout = timeout
        if schedule is not None:
            call.schedule.CopyFrom(schedule)
        if flags & pb.CALL_FLAG_NO_RETURN:
            return call_id, None
        if waiter is not None:
            self._pending[call_id] = waiter
            return call_id, None
        future: asyncio.Future[Reply] = self.node.loop.create_future()
        self._pending[call_id] = future
        return call_id, future

    def too_large(self, what: str, callback: str, size: int) -> PayloadTooLarge | None:
        """The error for sending ``size`` encoded bytes to the peer, or None when they fit its limit."""
        if size <= self.peer_limit:
            return None
        return PayloadTooLarge(
            f"cannot send the {describe(what, callback)} to node {self.peer_name!r}: encoded size {size} bytes "
            f"is over the limit of {self.peer_limit} bytes (the max_message_size of both nodes must allow it); raise "
            "max_message_size on every node, or send the data through storage"
        )

    def forget_call(self, call_id: int, tell_peer: bool) -> None:
        """Stop waiting for ``call_id``; with ``tell_peer`` ask the callee to cancel it."""
        self._pending.pop(call_id, None)
        if tell_peer and not self.closed:
            envelope = self._envelope(16)
            envelope.id = call_id
            envelope.cancel.SetInParent()

    def send_result(self, call_id: int, encoded: Encoded) -> None:
        if self.closed:
            return
        envelope = self._envelope(encoded.size + 16)
        envelope.id = call_id
        result = envelope.result
        result.value = encoded.data
        if encoded.buffers:
            result.buffer_count = len(encoded.buffers)
            self._blobs.extend(encoded.buffers)
        if encoded.dill:
            result.dill = True

    def send_error(self, call_id: int, error: pb.Error) -> None:
        if self.closed:
            return
        envelope = self._envelope(error.ByteSize() + 16)
        envelope.id = call_id
        envelope.error.CopyFrom(error)

    def send_offer(self, callbacks: list[str]) -> None:
        if self.closed:
            return
        envelope = self._envelope(sum(len(c) + 2 for c in callbacks) + 16)
        envelope.offer.callbacks.extend(callbacks)

    def send_departed(self, node_id: str) -> None:
        if self.closed:
            return
        envelope = self._envelope(len(node_id) + 16)
        envelope.departed.node_id = node_id

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            frames, self._frames = self._frames, []
            self._new_frame()
            for frame, blobs in frames:
                if frame.items:
                    await write_frame(self._stream.write, frame, blobs)

    # ------------------------------------------------------------------ incoming

    async def run(self) -> None:
        """Read frames until the stream ends, then close the link. Returns when closed."""
        if self.closed:
            return
        self._task = asyncio.current_task()
        writer = asyncio.create_task(self._write_loop())
        writer.add_done_callback(self._writer_done)
        reason = "the peer closed the link"
        try:
            while True:
                message = await read_frame(self._stream.read)
                if message is grpc.aio.EOF:
                    break
                frame, blobs = message
                self._blob_cursor = 0
                for envelope in frame.items:
                    self._dispatch(envelope, blobs)
        except asyncio.CancelledError:
            reason = self.close_reason or "the link was closed"
            raise
        except grpc.aio.AioRpcError as exc:
            reason = f"{exc.code().name}: {exc.details()}"
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            logger.warning("link to %s failed: %s", self.peer_name, reason)
        finally:
            writer.cancel()
            self._closed(reason)

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        if writer.cancelled() or self.closed:
            return
        exc = writer.exception()
        if exc is not None:
            detail = f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
            self.close(f"sending to the peer failed: {detail}")

    async def wait_closed(self) -> None:
        """Wait until the link is closed and its reading task has finished."""
        await self._done.wait()
        if self._task is not None and self._task is not asyncio.current_task():
            await asyncio.gather(self._task, return_exceptions=True)

    def _buffers(self, blobs: Buffers, count: int) -> Buffers:
        """The next ``count`` blobs of the frame being read: the buffers of one call or result."""
        start = self._blob_cursor
        self._blob_cursor = start + count
        return blobs[start : start + count]

    def _dispatch(self, envelope: pb.Envelope, blobs: Buffers) -> None:
        kind = envelope.WhichOneof("body")
        if kind == "result":
            result = envelope.result
            buffers = self._buffers(blobs, result.buffer_count) if blobs else NO_BUFFERS
            future = self._pending.pop(envelope.id, None)
            if future is not None and not future.done():
                future.set_result((result, buffers))
        elif kind == "error":
            future = self._pending.pop(envelope.id, None)
            if future is not None and not future.done():
                future.set_result((envelope.error, NO_BUFFERS))
        elif kind == "call":
            call = envelope.call
            buffers = self._buffers(blobs, call.buffer_count) if blobs else NO_BUFFERS
            self.node.on_call(self, envelope.id, call, buffers)
        elif kind == "cancel":
            self.node.on_cancel(self, envelope.id)
        elif kind == "offer":
            self.node.on_offer(self, list(envelope.offer.callbacks))
        elif kind == "departed":
            self.node.departures.reported(envelope.departed.node_id, self.peer_name)
        else:
            logger.warning("link to %s: ignored an envelope of kind %s", self.peer_name, kind)

    # ------------------------------------------------------------------ closing

    def close(self, reason: str, error: MeshError | None = None) -> None:
        """Close the link; pending calls fail with ``error``, by default :class:`PeerUnavailable`."""
        if not self.close_reason:
            self.close_reason = reason
            self._close_error = error
        if self._task is not None and not self._task.done():
            self._task.cancel()
        else:
            self._closed(reason)

    def _closed(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._done.set()
        self.close_reason = self.close_reason or reason
        error = self._close_error or PeerUnavailable(self.peer_name, self.close_reason)
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
        for task in list(self.incoming.values()):
            task.cancel()
        self.incoming.clear()
        for schedule in list(self.schedules.values()):
            schedule.cancel()
        self.schedules.clear()
        if self._on_close is not None:
            self._on_close()
        self.node.on_link_closed(self)
