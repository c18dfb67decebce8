"""A peer link: the one bidirectional ``Connect`` stream between two nodes.

Calls travel both ways, multiplexed by call id. What the link sends waits in its
:class:`~mesh.wire._outbox.Outbox`, which writes the envelopes queued meanwhile as one ``Frame``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import grpc

from ..errors import MeshError, PayloadTooLarge, PeerUnavailable
from ._closing import keep_from_program_end
from ._codec import NO_BUFFERS, Encoded, describe
from ._frames import Buffers, Outgoing, Reply, read_frame
from ._outbox import Outbox
from ._outcome import exception_of, exception_reply
from ._proto import mesh_pb2 as pb

logger = logging.getLogger("mesh")


class ReplyWaiter(Protocol):
    """Where a reply goes: the loop's own future, or a caller thread's :class:`~mesh.node._handoff.ReplyFuture`."""

    def done(self) -> bool: ...

    def set_result(self, result: Any) -> None: ...

    def set_exception(self, exception: BaseException) -> None: ...


class ItemSink(Protocol):
    """The receiving end of a stream (see mesh.node._flow.Inlet): the items of a peer, then its end."""

    def push(self, item: Any, nbytes: int = 0) -> None: ...

    def finish(self, end: Any = ...) -> None: ...


class CreditSink(Protocol):
    """The sending end of a stream (see mesh.node._flow.CreditGate): the receiver's credit, or its going."""

    def grant(self, items: int, nbytes: int) -> None: ...

    def close(self) -> None: ...


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

    @property
    def config(self) -> LinkSettings: ...

    @property
    def departures(self) -> DepartureReports: ...

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
        self.incoming: dict[int, Cancellable] = {}
        self.schedules: dict[int, Any] = {}
        # The streams of calls, by call id: as caller, the results this link receives and the
        # streamed arguments it sends; as callee, the results it sends and the arguments it receives.
        self.result_inlets: dict[int, ItemSink] = {}
        self.arg_outlets: dict[int, list[CreditSink]] = {}
        self.result_outlets: dict[int, CreditSink] = {}
        self.arg_inlets: dict[int, list[ItemSink]] = {}
        self._stream = stream
        self._on_close = on_close
        self._blob_cursor = 0
        own_limit = node.config.max_message_size
        # The peer's receive limit bounds what this link may send; 0 means it did not say.
        self.peer_limit = min(own_limit, hello.max_message_size or own_limit)
        self._outbox = Outbox(self.peer_limit)
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
    ) -> tuple[int, asyncio.Future[Reply] | None]:
        """Queue a call; returns its id and the future of its reply.

        The future is None for a NO_RETURN call, and when ``waiter`` is given: the reply goes to it.
        A STREAM call (``flags``) has a ``window`` of items and bytes the callee may send ahead; a
        call with ``streamed_args`` sends their items after it (:meth:`send_item`).

        Raises:
            PeerUnavailable: the link is closed.
            PayloadTooLarge: the arguments are over the peer's limit.
        """
        if self.closed:
            raise PeerUnavailable(self.peer_name, self.close_reason or "the link is closed")
        if encoded.size > self.peer_limit:
            raise _too_large(self, "arguments", name, encoded.size)
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
        if flags & pb.CALL_FLAG_NO_RETURN:
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
            self.send_error(call_id, exception_reply(_too_large(self, "result", callback, encoded.size)))
            return
        result = self._outbox.envelope(call_id, encoded.size + 16, encoded.buffers).result
        result.value = encoded.data
        if encoded.buffers:
            result.buffer_count = len(encoded.buffers)
        if encoded.dill:
            result.dill = True

    def send_error(self, call_id: int, error: pb.Error, callback: str = "") -> None:
        """Queue the error reply of call ``call_id``; one over the peer's limit (an exception that
        carries a large value) is replaced by the :class:`PayloadTooLarge` error that says so."""
        if self.closed:
            return
        size = error.ByteSize()
        if size > self.peer_limit:
            error = exception_reply(_too_large(self, "exception", callback, size))
            size = error.ByteSize()
        self._outbox.envelope(call_id, size + 16).error.CopyFrom(error)

    def send_item(self, call_id: int, slot: int, encoded: Encoded, callback: str = "") -> None:
        """Queue an item of stream ``slot`` of call ``call_id``; one over the peer's limit fails the
        stream with the :class:`PayloadTooLarge` error that says so."""
        if self.closed:
            return
        if encoded.size > self.peer_limit:
            error = exception_reply(_too_large(self, "stream item", callback, encoded.size))
            if slot:
                self.send_stream_end(call_id, slot, error)
            else:
                self.send_error(call_id, error, callback)
            return
        item = self._outbox.envelope(call_id, encoded.size + 16, encoded.buffers).item
        item.slot = slot
        item.value = encoded.data
        if encoded.buffers:
            item.buffer_count = len(encoded.buffers)
        if encoded.dill:
            item.dill = True

    def send_stream_end(self, call_id: int, slot: int, error: pb.Error | None = None) -> None:
        """Queue the end of streamed argument ``slot`` of call ``call_id``, with the error that ended it."""
        if self.closed:
            return
        end = self._outbox.envelope(call_id, 16 + (error.ByteSize() if error is not None else 0)).end
        end.slot = slot
        if error is not None:
            end.error.CopyFrom(error)

    def send_credit(self, call_id: int, slot: int, items: int, nbytes: int) -> None:
        """Queue credit for stream ``slot`` of call ``call_id``: ``items`` more items, ``nbytes`` more bytes."""
        if self.closed:
            return
        credit = self._outbox.envelope(call_id, 32).credit
        credit.slot = slot
        credit.items = items
        credit.bytes = nbytes

    def forget_call(self, call_id: int, tell_peer: bool) -> None:
        """Stop waiting for ``call_id``; with ``tell_peer`` ask the callee to cancel it."""
        self._pending.pop(call_id, None)
        self._end_caller_streams(call_id)
        if tell_peer and not self.closed:
            self._outbox.envelope(call_id, 16).cancel.SetInParent()

    def _end_caller_streams(self, call_id: int) -> None:
        """The call ended: stop sending its streamed arguments, and forget its result stream."""
        if self.result_inlets:
            self.result_inlets.pop(call_id, None)
        if self.arg_outlets:
            for outlet in self.arg_outlets.pop(call_id, ()):
                outlet.close()

    def end_callee_streams(self, call_id: int) -> None:
        """A served call ended: stop sending its results, and end what remains of its streamed arguments."""
        if self.result_outlets:
            outlet = self.result_outlets.pop(call_id, None)
            if outlet is not None:
                outlet.close()
        if self.arg_inlets:
            for inlet in self.arg_inlets.pop(call_id, ()):
                inlet.finish()

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
            if self.arg_outlets or self.result_inlets:
                self._end_caller_streams(envelope.id)
        elif kind == "error":
            future = self._pending.pop(envelope.id, None)
            if future is not None and not future.done():
                future.set_result((envelope.error, NO_BUFFERS))
            if self.arg_outlets or self.result_inlets:
                self._end_caller_streams(envelope.id)
        elif kind == "item":
            item = envelope.item
            buffers = self._buffers(blobs, item.buffer_count) if blobs else NO_BUFFERS
            sink = self._item_sink(envelope.id, item.slot)
            if sink is not None:
                nbytes = len(item.value) + sum(memoryview(b).nbytes for b in buffers)
                sink.push((item.value, buffers, item.dill), nbytes)
        elif kind == "credit":
            credit = envelope.credit
            outlet = self._credit_sink(envelope.id, credit.slot)
            if outlet is not None:
                outlet.grant(credit.items, credit.bytes)
        elif kind == "end":
            end = envelope.end
            sink = self._item_sink(envelope.id, end.slot)
            if sink is not None:
                if end.HasField("error"):
                    sink.finish(exception_of(end.error, "", self.peer_name))
                else:
                    sink.finish()
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

    def _item_sink(self, call_id: int, slot: int) -> ItemSink | None:
        """Where an item of stream ``slot`` of call ``call_id`` goes: the caller's result stream
        (slot 0), or a streamed argument of a served call."""
        if slot == 0:
            return self.result_inlets.get(call_id)
        inlets = self.arg_inlets.get(call_id)
        return inlets[slot - 1] if inlets is not None and slot <= len(inlets) else None

    def _credit_sink(self, call_id: int, slot: int) -> CreditSink | None:
        """Whose credit a grant for stream ``slot`` of call ``call_id`` is: a served call's result
        stream (slot 0), or a streamed argument of a call made here."""
        if slot == 0:
            return self.result_outlets.get(call_id)
        outlets = self.arg_outlets.get(call_id)
        return outlets[slot - 1] if outlets is not None and slot <= len(outlets) else None

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
        for outlet in [*self.result_outlets.values(), *(o for each in self.arg_outlets.values() for o in each)]:
            outlet.close()
        for inlet in [*self.result_inlets.values(), *(i for each in self.arg_inlets.values() for i in each)]:
            inlet.finish(error)
        self.result_outlets.clear()
        self.arg_outlets.clear()
        self.result_inlets.clear()
        self.arg_inlets.clear()
        if self._on_close is not None:
            self._on_close()
        self.node.on_link_closed(self)


def _too_large(link: PeerLink, what: str, callback: str, size: int) -> PayloadTooLarge:
    """The error for sending ``size`` encoded bytes, over the limit of ``link``'s peer."""
    return PayloadTooLarge(
        f"cannot send the {describe(what, callback)} to node {link.peer_name!r}: encoded size {size} bytes "
        f"is over the limit of {link.peer_limit} bytes (the max_message_size of both nodes must allow it); raise "
        "max_message_size on every node, or send the data through storage"
    )


def _cancel_all(running: dict[int, Any]) -> None:
    """Cancel every task, job or schedule of ``running`` and forget them."""
    for each in list(running.values()):
        each.cancel()
    running.clear()
