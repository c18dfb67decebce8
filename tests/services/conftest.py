"""Fixtures of the services' tests: a storage, a kv and an events service hosted in this process and used
from another node, a real S3 server (moto's) and real redis-servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh import Global
from mesh.services import KV, Events, KVService, Storage
from mesh.services.events import EventLog, EventStore, ServedEvents, serve_events
from mesh.services.kv import Backend as KVBackend
from mesh.services.kv import open_backend
from mesh.services.storage import Backend, serve_storage
from tests._support.proc import Proc
from tests._support.redis_server import WHY_MISSING, RedisServer, redis_server_path
from tests._support.s3 import CREDENTIALS, MotoServer


@pytest.fixture
def storage_mesh() -> Iterator[Callable[..., tuple[Global, Storage]]]:
    """``make(backend, max_message_size=..., direct=...)``: a node ``store`` hosting ``backend``, and
    ``(client, Storage(client))`` from a second node of the same mesh; both stopped, and the backend
    closed, at teardown. ``direct=False`` serves with the ways around the mesh's data path off."""
    nodes: list[Global] = []
    backends: list[Backend] = []

    def make(backend: Backend, direct: bool = True, **options: Any) -> tuple[Global, Storage]:
        host = Global(process_name="store", init_controller=True, **options)
        nodes.append(host)
        backends.append(backend)
        serve_storage(host, backend, direct=direct)
        client = Global(process_name="client", **options)
        nodes.append(client)
        client.wait_function("storage.put", timeout=5)
        return client, Storage(client)

    yield make
    for node in reversed(nodes):
        node.stop()
    for backend in backends:
        backend.close()


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


class HostedKV:
    """A kv service on the node ``host`` of this process, over ``backend``, and ``kv``, a client on another node."""

    def __init__(self, backend: KVBackend, name: str) -> None:
        self.backend = backend
        self.host = Global(f"{name}-host", init_controller=True)
        self.host.register(KVService(backend), prefix="kv")
        self.client = Global(f"{name}-client")
        self.kv = KV(self.client)

    def close(self) -> None:
        self.client.stop()
        self.host.stop()
        self.backend.close()


@pytest.fixture(params=["sqlite", "redis"])
def hosted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HostedKV]:
    """The kv service over a SQLite file of this test, or over a redis-server of its own, hosted in this process."""
    if request.param == "sqlite":
        backend = open_backend(path=str(tmp_path / "kv.db"))
    else:
        start: Callable[[], RedisServer] = request.getfixturevalue("redis_server")
        backend = open_backend(redis=start().url)
    service = HostedKV(backend, request.param)
    yield service
    service.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[[], RedisServer]]:
    """Start ``redis-server``s on free loopback ports; skipped where it is not installed; stopped by PID."""
    if redis_server_path() is None:
        pytest.skip(WHY_MISSING)
    pytest.importorskip("redis", reason="redis-py is missing: pip install 'grpcmesh[redis]'")
    started: list[RedisServer] = []

    def start() -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(started)}")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def events_mesh(tmp_path: Path) -> Iterator[Callable[..., tuple[Global, Events]]]:
    """``make(store=None)``: a node ``events`` hosting an events service over ``store`` (default: a SQLite log
    in a temporary folder), and ``(client, Events(client))`` from a second node; ``make.node(name)`` adds
    another node with its Events; ``make.served``, the services' handles. All stopped at teardown, the
    service closed first."""
    nodes: list[Global] = []
    served: list[ServedEvents] = []

    def make(store: EventStore | None = None) -> tuple[Global, Events]:
        host = Global(process_name="events", init_controller=True)
        nodes.append(host)
        served.append(serve_events(host, store or EventLog(tmp_path / "log")))
        return node("client")

    def node(name: str) -> tuple[Global, Events]:
        g = Global(process_name=name)
        nodes.append(g)
        g.wait_function("events.publish", timeout=5)
        return g, Events(g)

    make.node = node  # type: ignore[attr-defined]
    make.served = served  # type: ignore[attr-defined]
    yield make
    for service in served:
        service.close()
    for g in reversed(nodes):
        g.stop()


@pytest.fixture
def client(controller: Callable[[], tuple[Proc, int]]) -> Iterator[tuple[Global, int]]:
    """A standalone controller, and node 'client' of it in this process: the node and the controller's port."""
    _, port = controller()
    g = Global(process_name="client", host="127.0.0.1", port=port)
    yield g, port
    g.stop()
