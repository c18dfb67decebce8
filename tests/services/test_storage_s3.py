"""The S3 backend against a real S3 server on loopback (moto's), through the mesh: objects small and
multipart, missing keys, a stream that fails, and a server that is down."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mesh import FG, STREAM, Global, stream
from mesh.services import Storage
from mesh.services.storage import S3Backend
from mesh.services.storage.backends import parse_s3_url
from tests._support.proc import free_port
from tests._support.s3 import MotoServer

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("s3_credentials")]

MiB = 1024 * 1024
Make = Callable[..., tuple[Global, Storage]]


@pytest.fixture
def bucket(moto: MotoServer, request: pytest.FixtureRequest) -> Iterator[str]:
    import boto3

    name = request.node.name.lower().replace("_", "-")[:50].strip("-[]")
    client: Any = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    yield name
    client.close()


def test_objects_round_trip_through_s3(storage_mesh: Make, moto: MotoServer, bucket: str) -> None:
    _, st = storage_mesh(S3Backend(bucket, moto.endpoint))
    assert (st.put("a/one", b"1") & FG).size == 1
    st.put("a/two", b"22") & FG
    st.put("b", b"333") & FG
    assert st.get("a/two") & FG == b"22"
    assert st.list() & FG == ["a/one", "a/two", "b"]
    assert st.list("a/") & FG == ["a/one", "a/two"]
    assert (st.stat("b") & FG).size == 3
    assert st.exists("b") & FG and not st.exists("c") & FG
    st.delete("a/one") & FG
    assert st.list() & FG == ["a/two", "b"]


def test_a_large_object_is_uploaded_in_parts_and_read_in_chunks(
    storage_mesh: Make, moto: MotoServer, bucket: str
) -> None:
    _, st = storage_mesh(S3Backend(bucket, moto.endpoint))
    data = os.urandom(19 * MiB)
    chunks = (data[at : at + MiB] for at in range(0, len(data), MiB))
    assert (st.put("big", stream(chunks)) & FG).size == len(data)
    assert b"".join(st.get_stream("big") & STREAM) == data


def test_missing_keys_and_failed_streams(storage_mesh: Make, moto: MotoServer, bucket: str) -> None:
    _, st = storage_mesh(S3Backend(bucket, moto.endpoint))
    for call in (st.get("nope"), st.stat("nope"), st.delete("nope")):
        with pytest.raises(FileNotFoundError, match=f"no object in S3 at {moto.endpoint} .*'nope'"):
            call & FG
    st.put("kept", b"old") & FG

    def failing() -> Iterator[bytes]:
        yield b"x" * 9 * MiB  # past one part: a multipart upload is under way when it fails
        raise RuntimeError("the source failed")

    with pytest.raises(RuntimeError, match="the source failed"):
        st.put("kept", stream(failing())) & FG
    assert st.get("kept") & FG == b"old"


def test_a_missing_bucket_or_a_server_that_is_down_is_named(moto: MotoServer) -> None:
    with pytest.raises(FileNotFoundError, match=f"no bucket 'absent' at {moto.endpoint}"):
        S3Backend("absent", moto.endpoint)
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=f"storage backend S3 at {down} \\(bucket 'b'\\) cannot be reached"):
        S3Backend("b", down)


def test_a_server_that_goes_down_is_named_on_the_caller(storage_mesh: Make, s3_credentials: dict[str, str]) -> None:
    pytest.importorskip("moto.server")
    server = MotoServer(env={**os.environ, **s3_credentials})
    try:
        import boto3

        boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1").create_bucket(Bucket="gone")
        _, st = storage_mesh(S3Backend("gone", server.endpoint))
        st.put("x", b"1") & FG
    finally:
        server.stop()
    with pytest.raises(ConnectionError, match=f"S3 at {server.endpoint} \\(bucket 'gone'\\) cannot be reached"):
        st.get("x") & FG


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9000/data", ("http://127.0.0.1:9000", "data")),
        ("https://s3.example.org/data/", ("https://s3.example.org", "data")),
        ("s3://data", (None, "data")),
    ],
)
def test_s3_locations(url: str, expected: tuple[str | None, str]) -> None:
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://host/b", "http://host", "http://host/a/b", "s3://b/key", "data"])
def test_bad_s3_locations_say_the_form(url: str) -> None:
    from mesh import UsageError

    with pytest.raises(UsageError, match=r"is not http\(s\)://HOST:PORT/BUCKET"):
        parse_s3_url(url)
