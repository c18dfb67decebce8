"""S3 through presigned URLs: the service checks the path and signs a URL; the client GETs or PUTs the object
itself with the standard library, and takes the mesh's path when the store cannot be reached from it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mesh import FG, STREAM, Global, UsageError, stream
from mesh.services import Storage
from mesh.services.storage import S3Backend
from tests._support.proc import Proc, free_port
from tests._support.s3 import CREDENTIALS, MotoServer
from tests._support.serve import mesh_serve

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("s3_credentials")]

MiB = 1024 * 1024
Make = Callable[..., tuple[Global, Storage]]


@pytest.fixture
def bucket(moto: MotoServer, request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """A bucket of this test, and a boto3 client of moto's server to look into it."""
    import boto3

    name = request.node.name.lower().replace("_", "-")[:50].strip("-[]")
    client: Any = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    yield name, client
    client.close()


def bytes_sent_by_store(g: Global) -> int:
    snapshot: dict[str, Any] = g.call.mesh.stats() & FG(receiver="store")
    return sum(link["bytes_out"] + link["bytes_in"] for link in snapshot["links"] if link["peer"] == g.node_name)


def test_large_objects_go_through_presigned_urls(storage_mesh: Make, moto: MotoServer, bucket: tuple[str, Any]) -> None:
    name, s3 = bucket
    g, st = storage_mesh(S3Backend(name, moto.endpoint))
    data = os.urandom(9 * MiB)
    before = bytes_sent_by_store(g)
    assert (st.put("big", data) & FG).size == 9 * MiB
    assert s3.get_object(Bucket=name, Key="big")["Body"].read() == data
    assert st.get("big") & FG == data
    assert b"".join(st.get_stream("big", chunk_size=2 * MiB) & STREAM) == data
    assert bytes_sent_by_store(g) - before < MiB, "the object's bytes crossed gRPC"
    st.put("streamed", stream(iter([data[:MiB]] * 3))) & FG  # a stream of unknown length: through the mesh
    assert s3.head_object(Bucket=name, Key="streamed")["ContentLength"] == 3 * MiB
    found = g.call.storage.statistics() & FG
    assert (found["url_reads"], found["url_writes"], found["fds_passed"]) == (2, 1, 0)


def test_a_small_read_comes_whole_and_a_missing_one_says_so(
    storage_mesh: Make, moto: MotoServer, bucket: tuple[str, Any]
) -> None:
    g, st = storage_mesh(S3Backend(bucket[0], moto.endpoint))
    st.put("small", b"s" * 5000) & FG
    assert st.get("small") & FG == b"s" * 5000
    with pytest.raises(FileNotFoundError, match="no object in S3"):
        st.get("missing") & FG
    with pytest.raises(UsageError, match="leave the root"):
        st.get("../escape") & FG
    assert (g.call.storage.statistics() & FG)["url_reads"] == 0


def test_a_store_out_of_the_clients_reach_falls_back_to_the_mesh(
    spawn: Callable[..., Proc],
    client: tuple[Global, int],
    moto: MotoServer,
    bucket: tuple[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, s3 = bucket
    g, port = client
    mesh_serve(spawn, "storage", port, "--s3", f"{moto.endpoint}/{name}", name="store", extra_env=CREDENTIALS)
    g.wait_function("storage.put", timeout=10)
    # The service reaches the store; this process's HTTP goes through a proxy that is not there (gRPC's
    # links, which read http_proxy too, are told not to).
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("no_grpc_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    st = Storage(g)
    data = os.urandom(9 * MiB)
    before = bytes_sent_by_store(g)
    assert (st.put("big", data) & FG).size == 9 * MiB
    assert st.get("big") & FG == data
    assert b"".join(st.get_stream("big") & STREAM) == data
    assert bytes_sent_by_store(g) - before > 3 * len(data), "the object went through the mesh"
    assert s3.get_object(Bucket=name, Key="big")["Body"].read() == data
    found = g.call.storage.statistics() & FG
    assert (found["url_reads"], found["url_writes"]) == (2, 1), "the grants were given, and could not be used"
