"""Fixtures of the services' tests: a kv service hosted in this process, a real redis-server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mesh import Global
from mesh.services import KV, KVService
from mesh.services.kv import Backend, open_backend
from tests._support.redis_server import WHY_MISSING, RedisServer, redis_server_path


class HostedKV:
    """A kv service on the node ``host`` of this process, over ``backend``, and ``kv``, a client on another node."""

    def __init__(self, backend: Backend, name: str) -> None:
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
