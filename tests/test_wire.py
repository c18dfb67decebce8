"""The frame encoding of peer links: blobs outside protobuf's copies, and still a valid protobuf Frame."""

from __future__ import annotations

import asyncio
import pickle

import grpc
import pytest
from google.protobuf.message import DecodeError

from mesh.wire._codec import decode_args, encode_args
from mesh.wire._frames import DETACH_MIN, deserialize, read_frame, serialize, write_frame
from mesh.wire._proto import mesh_pb2 as pb


def _frame(*ids: int) -> pb.Frame:
    return pb.Frame(items=[pb.Envelope(id=i, call=pb.Call(name="f", buffer_count=1)) for i in ids])


def test_blobs_round_trip_as_slices_of_the_message() -> None:
    blobs = [b"a" * 70_000, pickle.PickleBuffer(b"b" * 300), memoryview(b"c" * 5)]
    data = serialize((_frame(1, 2, 3), blobs))
    frame, read = deserialize(data)
    assert [e.id for e in frame.items] == [1, 2, 3]
    assert [bytes(b) for b in read] == [b"a" * 70_000, b"b" * 300, b"c" * 5]
    assert all(isinstance(b, memoryview) and b.obj is data for b in read), "blobs must not be copied"


def test_the_bytes_are_a_frame_for_any_protobuf_reader() -> None:
    data = serialize((_frame(7), [b"x" * 1000, b""]))
    frame = pb.Frame.FromString(data)
    assert list(frame.blobs) == [b"x" * 1000, b""]
    assert frame.items[0].id == 7


def test_blobs_written_by_protobuf_itself_are_read_too() -> None:
    # protobuf writes fields in number order: the blobs come after the envelopes.
    plain = pb.Frame(items=_frame(4).items, blobs=[b"late"]).SerializeToString()
    frame, blobs = deserialize(plain)
    assert frame.items[0].id == 4 and [bytes(b) for b in blobs] == [b"late"]


def test_a_frame_without_blobs_is_plain_protobuf() -> None:
    frame = _frame(1)
    assert serialize((frame, [])) == frame.SerializeToString()
    assert deserialize(b"")[0] == pb.Frame()


@pytest.mark.parametrize(
    "data",
    [
        b"\x12\x05abc",  # a blob longer than what is left
        b"\x12",  # a tag with no length
        b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a length of more than 64 bits
        b"\x12\x01a\x0a\x05ab",  # good blob, then a truncated envelope
    ],
)
def test_malformed_frames_are_refused_with_an_error(data: bytes) -> None:
    # ValueError from the blob reader, or protobuf's DecodeError for the envelopes.
    with pytest.raises((ValueError, DecodeError), match=r"malformed|parsing"):
        deserialize(data)


class _Pipe:
    """One direction of a stream, as the link sees it: messages written are read back in order."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def write(self, message: object) -> None:
        self.messages.append(serialize(message))  # type: ignore[arg-type]

    async def read(self) -> object:
        return self.messages.pop(0) if self.messages else grpc.aio.EOF


def test_a_large_frames_blobs_travel_detached_and_uncopied() -> None:
    big = b"a" * DETACH_MIN
    view = memoryview(bytearray(b"v" * 1000))
    pipe = _Pipe()
    asyncio.run(write_frame(pipe.write, _frame(1, 2), [big, view]))
    assert len(pipe.messages) == 3, "the frame, then one message a blob"
    assert pipe.messages[1] is big, "a bytes blob goes to gRPC as it is"
    message = asyncio.run(read_frame(pipe.read))
    assert message is not grpc.aio.EOF
    frame, blobs = message
    assert frame.detached_blobs == 2 and [e.id for e in frame.items] == [1, 2]
    assert blobs[0] is big and blobs[1] == b"v" * 1000
    # The value is rebuilt on the received bytes object itself: no copy on this side either.
    encoded = encode_args((big,), {}, 2 * DETACH_MIN, "f")
    assert len(encoded.buffers) == 1
    args, _ = decode_args(encoded.data, blobs[:1], encoded.dill, "f")
    assert args[0] is big


def test_a_small_frame_keeps_its_blobs_in_its_message() -> None:
    pipe = _Pipe()
    asyncio.run(write_frame(pipe.write, _frame(1), [b"s" * 100]))
    assert len(pipe.messages) == 1
    frame, blobs = asyncio.run(read_frame(pipe.read))
    assert frame.detached_blobs == 0 and [bytes(b) for b in blobs] == [b"s" * 100]


def test_a_stream_that_ends_before_the_detached_blobs_is_refused() -> None:
    pipe = _Pipe()
    frame = _frame(1)
    frame.detached_blobs = 2
    asyncio.run(pipe.write((frame, ())))
    asyncio.run(pipe.write(b"only one"))
    with pytest.raises(ValueError, match="ended before its detached blobs"):
        asyncio.run(read_frame(pipe.read))
