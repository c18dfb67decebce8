"""Fixtures of the service tests: a storage service hosted by one in-process node and used from another,
and a real S3 server (moto's) on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from mesh import Global
from mesh.services import Storage
from mesh.services.storage import Backend, serve_storage
from tests._support.s3 import CREDENTIALS, MotoServer


@pytest.fixture
def storage_mesh() -> Iterator[Callable[..., tuple[Global, Storage]]]:
    """``make(backend, max_message_size=...)``: a node ``store`` hosting ``backend``, and ``(client, Storage(client))``
    from a second node of the same mesh; both stopped at teardown."""
    nodes: list[Global] = []

    def make(backend: Backend, **options: int) -> tuple[Global, Storage]:
        host = Global(process_name="store", init_controller=True, **options)
        nodes.append(host)
        serve_storage(host, backend)
        client = Global(process_name="client", **options)
        nodes.append(client)
        client.wait_function("storage.put", timeout=5)
        return client, Storage(client)

    yield make
    for node in reversed(nodes):
        node.stop()


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto's S3 server on a free loopback port, one for the module (it takes seconds to start)."""
    pytest.importorskip("boto3", reason="the S3 tests need boto3: pip install 'grpcmesh[s3]'")
    pytest.importorskip("moto.server", reason="the S3 tests need moto's server: pip install 'moto[server]'")
    server = MotoServer(env={**os.environ, **CREDENTIALS})
    yield server
    server.stop()


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """moto's dummy credentials in this process's environment (boto3 reads them there)."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return CREDENTIALS
