"""The bytes of a ``Connect`` stream: a ``Frame`` whose out-of-band buffers are not copied by protobuf.

Putting a 1 MiB buffer into a protobuf message copies it, serializing the message copies it again,
and on the other side parsing copies it and reading the field copies it once more. Here the
buffers (the frame's ``blobs``) are written by hand in front of the envelopes, as protobuf's own
encoding of that field, so the message is still a valid ``Frame`` for any protobuf reader; the
reader here takes each blob as a slice (a ``memoryview``) of the received message instead. (A value
rebuilt on such a slice without copying it, a NumPy array say, keeps the whole message alive.)

The blobs of a frame of :data:`DETACH_MIN` bytes or more are not in its message at all: each
follows it as a gRPC message of its own, its raw bytes (``Frame.detached_blobs`` says how many).
Joining a blob into the frame's message copied it, and so did turning the slice back into
``bytes`` on the other side; a detached ``bytes`` blob is handed to gRPC as it is and arrives as
the very ``bytes`` object that the value is rebuilt on, so it is copied only by gRPC itself.
"""

from __future__ import annotations

import pickle
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import grpc

from ._proto import mesh_pb2 as pb

Blob: TypeAlias = bytes | memoryview | pickle.PickleBuffer
# A frame as it is written: the envelopes, and the blobs their calls and results refer to.
Outgoing: TypeAlias = tuple[pb.Frame, Sequence[Blob]]
# Blobs as they are read: slices of the received message, or bytes from a plain protobuf writer.
Buffers: TypeAlias = Sequence[memoryview | bytes]
Incoming: TypeAlias = tuple[pb.Frame, Buffers]
# A reply envelope's body, with the out-of-band buffers of a result.
Reply: TypeAlias = tuple[pb.Result | pb.Error, Buffers]

# The names are the proto's own; only the (de)serializers differ from the generated stubs'.
_SERVICE = pb.DESCRIPTOR.services_by_name["Mesh"]
_CONNECT = _SERVICE.methods_by_name["Connect"]
# A frame whose blobs add up to this many bytes sends them as messages of their own after it.
DETACH_MIN = 256 * 1024
# Field 2 (blobs), wire type 2 (length-delimited).
_BLOB_TAG = (2 << 3) | 2
_BLOB_TAG_BYTE = bytes([_BLOB_TAG])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def serialize(message: Outgoing | bytes) -> bytes:
    """The wire bytes of a frame: its blobs, each tagged as field 2, then its envelopes; a detached
    blob (``bytes``) is its own wire bytes."""
    if isinstance(message, bytes):
        return message
    frame, blobs = message
    body: bytes = frame.SerializeToString()
    if not blobs:
        return body
    parts: list[Blob] = []
    for blob in blobs:
        parts += (_BLOB_TAG_BYTE, _varint(memoryview(blob).nbytes), blob)
    parts.append(body)
    return b"".join(parts)


def deserialize(data: bytes) -> Incoming:
    """A frame from its wire bytes; leading blobs become slices of ``data``, not copies.

    Raises:
        ValueError, DecodeError: the bytes are not a ``Frame``.
    """
    if not data or data[0] != _BLOB_TAG:
        frame = pb.Frame.FromString(data)
        return frame, frame.blobs
    view = memoryview(data)
    blobs: list[memoryview | bytes] = []
    end = len(data)
    position = 0
    while position < end and data[position] == _BLOB_TAG:
        length, position = _read_varint(data, position + 1)
        if position + length > end:
            raise ValueError("malformed frame: a blob runs past its end")
        blobs.append(view[position : position + length])
        position += length
    frame = pb.Frame.FromString(view[position:])
    blobs.extend(frame.blobs)
    return frame, blobs


async def write_frame(write: Callable[[Any], Awaitable[None]], frame: pb.Frame, blobs: Sequence[Blob]) -> None:
    """Write ``frame`` with ``write`` (a stream's), its blobs in its message or, from
    :data:`DETACH_MIN` bytes on, each in a message of its own after it."""
    if not blobs or sum(memoryview(blob).nbytes for blob in blobs) < DETACH_MIN:
        await write((frame, blobs))
        return
    frame.detached_blobs = len(blobs)
    await write((frame, ()))
    for blob in blobs:
        await write(_as_bytes(blob))


def _as_bytes(blob: Blob) -> bytes:
    """The ``bytes`` a blob views, without a copy when it views all of a ``bytes`` object."""
    if type(blob) is bytes:
        return blob
    view = blob.raw() if isinstance(blob, pickle.PickleBuffer) else memoryview(blob)
    if type(view.obj) is bytes and view.nbytes == len(view.obj):
        return view.obj
    return view.tobytes()


async def read_frame(read: Callable[[], Awaitable[Any]]) -> Incoming | Any:
    """Read the next frame with ``read`` (a stream's), with the blobs detached from it; or ``grpc.aio.EOF``.

    Raises:
        ValueError, DecodeError: the bytes are not a ``Frame``, or the stream ends before its blobs.
    """
    data = await read()
    if data is grpc.aio.EOF:
        return data
    frame, blobs = deserialize(data)
    if frame.detached_blobs:
        blobs = list(blobs)
        for _ in range(frame.detached_blobs):
            blob = await read()
            if blob is grpc.aio.EOF:
                raise ValueError("malformed frame: the stream ended before its detached blobs")
            blobs.append(blob)
    return frame, blobs


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
    raise ValueError("malformed frame: a blob's length is cut short or too long")


def open_stream(channel: grpc.aio.Channel) -> grpc.aio.StreamStreamCall:
    """Start a ``Connect`` stream on ``channel`` that writes frames in this encoding; its reads are raw
    messages, for :func:`read_frame` (which knows which of them are detached blobs)."""
    connect = channel.stream_stream(f"/{_SERVICE.full_name}/{_CONNECT.name}", request_serializer=serialize)
    return connect()


def connect_handler(behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]) -> grpc.GenericRpcHandler:
    """The server side: ``behaviour(request_iterator, context)`` serves each ``Connect`` stream
    (written as :func:`open_stream`'s, read with :func:`read_frame`)."""
    method = grpc.stream_stream_rpc_method_handler(behaviour, response_serializer=serialize)
    return grpc.method_handlers_generic_handler(_SERVICE.full_name, {_CONNECT.name: method})
