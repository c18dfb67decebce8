"""A peer link: the one bidirectional ``Connect`` stream between two nodes.

Calls travel both ways, multiplexed by call id. What the link sends waits in its
:class:`~mesh.wire._outbox.Outbox`, which writes the envelopes queued meanwhile as one ``Frame``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import grpc

from ..errors import MeshError, PeerUnavailable
from ._closing import keep_from_program_end
from ._codec import NO_BUFFERS, Encoded
from ._frames import Buffers, Outgoing, Reply, read_frame
from ._link_streams import LinkStreams, too_large
from ._outbox import Outbox
from ._outcome import exception_reply
from ._proto import mesh_pb2 as pb

logger = logging.getLogger("mesh")


class ReplyWaiter(Protocol):
    """Where a reply goes: the loop's own future, or a caller thread's :class:`~mesh.node._handoff.ReplyFuture`."""

    def done(self) -> bool: ...

    def set_result(self, result: Any) -> None: ...

    def set_exception(self, exception: BaseException) -> None: ...


class FrameStream(Protocol):
    """The read/write face shared by a client call and a server context."""

    def read(self) -> Awaitable[Any]: ...

    def write(self, message: Outgoing | bytes) -> Awaitable[None]: ...


class LinkSettings(Protocol):
    """What a link reads of its node's settings."""

    @property
    def max_message_size(self) -> int: ...


class DepartureReports(Protocol):
    """Where a link passes a peer's word that a member has gone."""

    def reported(self, node_id: str, by: str) -> None: ...


class Cancellable(Protocol):
    """A call being served for the peer: a task, a worker job or a schedule."""

    def cancel(self) -> bool: ...


class LinkHost(Protocol):
    """What a link needs of its node: its loop and settings, and where the envelopes it reads go."""

    loop: asyncio.AbstractEventLoop
    # The ids of the node's calls, over all its links: an id is never used twice, so that an Answer
    # for a call that has ended can never be taken for a later call on a new link to the same peer.
    call_ids: Iterator[int]

    @property
    def config(self) -> LinkSettings: ...

    @property
    def departures(self) -> DepartureReports: ...

    def on_call(self, link: PeerLink, call_id: int, call: pb.Call, buffers: Buffers) -> None: ...

    def on_cancel(self, link: PeerLink, call_id: int) -> None: ...

    def on_answer(self, via: str, call_id: int, result: pb.Result, buffers: Buffers) -> None: ...

    def on_offer(self, link: PeerLink, callbacks: list[str]) -> None: ...

    def on_link_closed(self, link: PeerLink) -> None: ...


class PeerLink(LinkStreams):
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
        self.incoming: dict[int, Cancellable] = {}
        self.schedules: dict[int, Any] = {}
        self._init_streams()
        self._stream = stream
        self._on_close = on_close
        self._blob_cursor = 0
        own_limit = node.config.max_message_size
        # The peer's receive limit bounds what this link may send; 0 means it did not say.
        self.peer_limit = min(own_limit, hello.max_message_size or own_limit)
        self._outbox = Outbox(self.peer_limit)
        self._pending: dict[int, ReplyWaiter] = {}
        self._ids = node.call_ids
        self._task: asyncio.Task[None] | None = None
        self._close_error: MeshError | None = None
        self._done = asyncio.Event()
        # The bytes of the gRPC messages read from the peer.
        self.bytes_in = 0

    @property
    def bytes_out(self) -> int:
        """The bytes of the envelopes queued for the peer (their out-of-band buffers included)."""
        return self._outbox.queued_bytes

    @property
    def in_flight(self) -> int:
        """Calls sent and not yet answered, plus calls received and still running."""
        return len(self._pending) + len(self.incoming)

    # ------------------------------------------------------------------ outgoing

    def send_call(
        self,
        name: str,
        encoded: Encoded,
        flags: int,
        timeout: float | None,
        schedule: pb.Schedule | None = None,
        waiter: ReplyWaiter | None = None,
        window: tuple[int, int] | None = None,
        streamed_args: int = 0,
        answer: tuple[str, int] | None = None,
    ) -> tuple[int, asyncio.Future[Reply] | None]:
        """Queue a call; returns its id and the future of its reply.

        The future is None for a NO_RETURN call, and when ``waiter`` is given: the reply goes to it.
        A STREAM call (``flags``) has a ``window`` of items and bytes the callee may send ahead; a
        call with ``streamed_args`` sends their items after it (:meth:`send_item`). With ``answer``
        (a node's id and its call's id) the callee sends its result to that node too, as an Answer.

        Raises:
            PeerUnavailable: the link is closed.
            PayloadTooLarge: the arguments are over the peer's limit.
        """
        if self.closed:
            raise PeerUnavailable(self.peer_name, self.close_reason or "the link is closed")
        if encoded.size > self.peer_limit:
            raise too_large(self, "arguments", name, encoded.size)
        call_id = next(self._ids)
        call = self._outbox.envelope(call_id, encoded.size + len(name) + 32, encoded.buffers).call
        call.name = name
        call.args = encoded.data
        if encoded.buffers:
            call.buffer_count = len(encoded.buffers)
        if encoded.dill:
            flags |= pb.CALL_FLAG_DILL
        call.flags = flags
        if timeout:
            call.timeout = timeout
        if schedule is not None:
            call.schedule.CopyFrom(schedule)
        if window is not None:
            call.window, call.window_bytes = window
        if streamed_args:
            call.streamed_args = streamed_args
        if encoded.trace is not None:
            encoded.trace.write(call)
        if answer is not None:
            call.flags = flags | pb.CALL_FLAG_ANSWER
            call.answer_node, call.answer_call = answer
        if flags & pb.CALL_FLAG_NO_RETURN:
            if encoded.trace is not None:
                encoded.trace.end()
            return call_id, None
        if waiter is not None:
            self._pending[call_id] = waiter
            return call_id, None
        future: asyncio.Future[Reply] = self.node.loop.create_future()
        self._pending[call_id] = future
        return call_id, future

    def send_result(self, call_id: int, encoded: Encoded, callback: str = "") -> None:
        """Queue the result of call ``call_id`` (of ``callback``); one over the peer's limit is replaced
        by the :class:`PayloadTooLarge` error that says so."""
        if self.closed:
            return
        if encoded.size > self.peer_limit:
            self.send_error(call_id, exception_reply(too_large(self, "result", callback, encoded.size)))
            return
        result = self._outbox.envelope(call_id, encoded.size + 16, encoded.buffers).result
        result.value = encoded.data
        if encoded.buffers:
            result.buffer_count = len(encoded.buffers)
        if encoded.dill:
            result.dill = True

    def send_answer(self, call_id: int, via: str, encoded: Encoded) -> None:
        """Queue ``encoded``, the result of a call from the node ``via``, as the answer of this link's
        peer's call ``call_id`` to ``via``; nothing when it is over the peer's limit (``via`` answers
        that call anyway)."""
        if self.closed or encoded.size > self.peer_limit:
            return
        answer = self._outbox.envelope(call_id, encoded.size + len(via) + 24, encoded.buffers).answer
        answer.via = via
        result = answer.result
        result.value = encoded.data
        if encoded.buffers:
            result.buffer_count = len(encoded.buffers)
        if encoded.dill:
            result.dill = True

    def take_answer(self, call_id: int, result: pb.Result, buffers: Buffers) -> None:
        """An Answer for call ``call_id`` to this link's peer, from another node: the call's result if
        it still waits (:meth:`send_answer`)."""
        future = self._pending.pop(call_id, None)
        if future is not None and not future.done():
            future.set_result((result, buffers))

    def send_error(self, call_id: int, error: pb.Error, callback: str = "") -> None:
        """Queue the error reply of call ``call_id``; one over the peer's limit (an exception that
        carries a large value) is replaced by the :class:`PayloadTooLarge` error that says so."""
        if self.closed:
            return
        size = error.ByteSize()
        if size > self.peer_limit:
            error = exception_reply(too_large(self, "exception", callback, size))
            size = error.ByteSize()
        self._outbox.envelope(call_id, size + 16).error.CopyFrom(error)

    def forget_call(self, call_id: int, tell_peer: bool) -> None:
        """Stop waiting for ``call_id``; with ``tell_peer`` ask the callee to cancel it."""
        self._pending.pop(call_id, None)
        self._end_caller_streams(call_id)
        if tell_peer and not self.closed:
            self._outbox.envelope(call_id, 16).cancel.SetInParent()

    def send_offer(self, callbacks: list[str]) -> None:
        if self.closed:
            return
        self._outbox.envelope(0, sum(len(c) + 2 for c in callbacks) + 16).offer.callbacks.extend(callbacks)

    def send_departed(self, node_id: str) -> None:
        if self.closed:
            return
        self._outbox.envelope(0, len(node_id) + 16).departed.node_id = node_id

    # ------------------------------------------------------------------ incoming

    async def run(self) -> None:
        """Read frames until the stream ends, then close the link. Returns when closed."""
        if self.closed:
            return
        self._task = asyncio.current_task()
        writer = asyncio.create_task(self._outbox.write_loop(self._stream.write))
        keep_from_program_end(writer)
        writer.add_done_callback(self._writer_done)
        reason = "the peer closed the link"
        try:
            while True:
                message = await read_frame(self._read)
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

    async def _read(self) -> Any:
        data = await self._stream.read()
        if data is not grpc.aio.EOF:
            self.bytes_in += len(data)
        return data

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
            if self.arg_outlets or self.result_inlets:
                self._end_caller_streams(envelope.id)
        elif kind == "error":
            future = self._pending.pop(envelope.id, None)
            if future is not None and not future.done():
                future.set_result((envelope.error, NO_BUFFERS))
            if self.arg_outlets or self.result_inlets:
                self._end_caller_streams(envelope.id)
        elif kind == "call":
            call = envelope.call
            buffers = self._buffers(blobs, call.buffer_count) if blobs else NO_BUFFERS
            self.node.on_call(self, envelope.id, call, buffers)
        elif kind == "cancel":
            self.node.on_cancel(self, envelope.id)
        elif kind == "answer":
            answer = envelope.answer
            result = answer.result
            buffers = self._buffers(blobs, result.buffer_count) if blobs else NO_BUFFERS
            self.node.on_answer(answer.via, envelope.id, result, buffers)
        elif kind == "offer":
            self.node.on_offer(self, list(envelope.offer.callbacks))
        elif kind == "departed":
            self.node.departures.reported(envelope.departed.node_id, self.peer_name)
        elif not self._dispatch_stream(kind, envelope, blobs):
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
        _cancel_all(self.incoming)
        _cancel_all(self.schedules)
        self._close_streams(error)
        if self._on_close is not None:
            self._on_close()
        self.node.on_link_closed(self)


def _cancel_all(running: dict[int, Any]) -> None:
    """Cancel every task, job or schedule of ``running`` and forget them."""
    for each in list(running.values()):
        each.cancel()
    running.clear()
