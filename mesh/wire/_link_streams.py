"""The streams of a link's calls (STREAM results, ``stream(...)`` arguments): their envelopes and where they go.

A :class:`~mesh.wire._link.PeerLink` mixes this in. Each stream is one slot of a call: slot 0 its result
stream (callee to caller, ended by the call's Result or Error), slot k its k-th streamed argument
(caller to callee, ended by a StreamEnd). Items go to an :class:`ItemSink`, credit to a :class:`CreditSink`
(mesh.node._flow's Inlet and CreditGate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..errors import MeshError, PayloadTooLarge
from ._codec import NO_BUFFERS, Encoded, describe
from ._frames import Buffers
from ._outcome import exception_of, exception_reply
from ._proto import mesh_pb2 as pb

if TYPE_CHECKING:
    from ._outbox import Outbox


class ItemSink(Protocol):
    """The receiving end of a stream (see mesh.node._flow.Inlet): the items of a peer, then its end."""

    def push(self, item: Any, nbytes: int = 0) -> None: ...

    def finish(self, end: Any = ...) -> None: ...


class CreditSink(Protocol):
    """The sending end of a stream (see mesh.node._flow.CreditGate): the receiver's credit, or its going."""

    def grant(self, items: int, nbytes: int) -> None: ...

    def close(self) -> None: ...


class LinkStreams:
    """The stream half of a peer link (a mixin of :class:`~mesh.wire._link.PeerLink`)."""

    closed: bool
    peer_name: str
    peer_limit: int
    _outbox: Outbox

    if TYPE_CHECKING:

        def send_error(self, call_id: int, error: pb.Error, callback: str = "") -> None: ...

        def _buffers(self, blobs: Buffers, count: int) -> Buffers: ...

    def _init_streams(self) -> None:
        # The streams of calls, by call id: as caller, the results this link receives and the
        # streamed arguments it sends; as callee, the results it sends and the arguments it receives.
        self.result_inlets: dict[int, ItemSink] = {}
        self.arg_outlets: dict[int, list[CreditSink]] = {}
        self.result_outlets: dict[int, CreditSink] = {}
        self.arg_inlets: dict[int, list[ItemSink]] = {}

    def send_item(self, call_id: int, slot: int, encoded: Encoded, callback: str = "") -> None:
        """Queue an item of stream ``slot`` of call ``call_id``; one over the peer's limit fails the
        stream with the :class:`PayloadTooLarge` error that says so."""
        if self.closed:
            return
        if encoded.size > self.peer_limit:
            error = exception_reply(too_large(self, "stream item", callback, encoded.size))
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

    def _dispatch_stream(self, kind: str | None, envelope: pb.Envelope, blobs: Buffers) -> bool:
        """Deliver an envelope of a stream (an item, credit, an argument's end); False for any other kind."""
        if kind == "item":
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
        else:
            return False
        return True

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

    def _close_streams(self, error: MeshError) -> None:
        """The link closed: every sender stops, every receiver ends with ``error``."""
        for outlet in [*self.result_outlets.values(), *(o for each in self.arg_outlets.values() for o in each)]:
            outlet.close()
        for inlet in [*self.result_inlets.values(), *(i for each in self.arg_inlets.values() for i in each)]:
            inlet.finish(error)
        self.result_outlets.clear()
        self.arg_outlets.clear()
        self.result_inlets.clear()
        self.arg_inlets.clear()


def too_large(link: LinkStreams, what: str, callback: str, size: int) -> PayloadTooLarge:
    """The error for sending ``size`` encoded bytes, over the limit of ``link``'s peer."""
    return PayloadTooLarge(
        f"cannot send the {describe(what, callback)} to node {link.peer_name!r}: encoded size {size} bytes "
        f"is over the limit of {link.peer_limit} bytes (the max_message_size of both nodes must allow it); raise "
        "max_message_size on every node, or send the data through storage"
    )
