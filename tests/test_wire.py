"""The frame encoding of peer links: blobs outside protobuf's copies, and still a valid protobuf Frame."""

from __future__ import annotations

import pickle

import pytest
from google.protobuf.message import DecodeError

from mesh._proto import mesh_pb2 as pb
from mesh._wire import deserialize, serialize


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
