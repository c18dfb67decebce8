"""Fixtures and hooks: real peer processes and controllers, cleaned up by PID, and a leak check.

Only fixtures and hooks live here; the helpers they use (and tests import) live in tests/_support/.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh.node import _registry
from tests._support.lan import Lan
from tests._support.proc import Proc, free_port


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start a child process (``python -m MODULE args``); every one is stopped by PID at teardown."""
    started: list[Proc] = []
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")

    def start(*args: str, module: str = "tests._support.peer", extra_env: dict[str, str] | None = None) -> Proc:
        proc = Proc([sys.executable, "-m", module, *args], env={**env, **(extra_env or {})})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def peer(spawn: Callable[..., Proc]) -> Callable[..., tuple[Proc, str]]:
    """Start ``tests/_support/peer.py`` with the given options and wait until it has joined."""

    def start(*args: str) -> tuple[Proc, str]:
        proc = spawn(*args)
        line = proc.wait_line("READY")
        return proc, line.split(maxsplit=1)[1]

    return start


@pytest.fixture
def controller(spawn: Callable[..., Proc]) -> Callable[[], tuple[Proc, int]]:
    """Start a standalone controller (``python -m controller``) on a free loopback port."""

    def start() -> tuple[Proc, int]:
        port = free_port()
        proc = spawn("--host", "127.0.0.1", "--port", str(port), module="controller")
        proc.wait_line("controller listening")
        return proc, port

    return start


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[Callable[[int], Any]]:
    """Make a LAN of ``n`` hosts; skipped where network namespaces cannot be created."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (the multi-host discovery tests run as root on CI)")
    if shutil.which("ip") is None:
        pytest.skip("the ip command is missing: install iproute2")

    made: list[Lan] = []

    def make(hosts: int) -> Lan:
        network = Lan(hosts, tmp_path)
        made.append(network)
        try:
            network.create()
        except RuntimeError as exc:
            if not network.made:
                pytest.skip(f"cannot create network namespaces: {exc}")
            raise
        return network

    yield make
    for network in made:
        network.close()


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Default UNIX sockets of in-process nodes go under this test's own temp dir."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Fail a test that leaves node threads running or callbacks registered in this process."""
    callbacks_before = set(_registry.REGISTRY.names())
    yield
    for name in set(_registry.REGISTRY.names()) - callbacks_before:
        _registry.REGISTRY.unregister(name)
    deadline = time.monotonic() + 5
    while True:
        left = [t.name for t in threading.enumerate() if t.name.startswith("mesh-") and t.is_alive()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"node threads left running: {left}"


@pytest.fixture(autouse=True)
def mdns_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a test whose in-process node would run zeroconf on an interface of the real network."""
    from mesh.membership import discovery

    real = discovery.AsyncZeroconf

    def loopback_only(*args: Any, interfaces: Any = None, **kwargs: Any) -> Any:
        if not isinstance(interfaces, list) or not all(ipaddress.ip_address(ip).is_loopback for ip in interfaces):
            raise AssertionError(f"zeroconf started on interfaces={interfaces!r} in this machine's own namespace")
        return real(*args, interfaces=interfaces, **kwargs)

    monkeypatch.setattr(discovery, "AsyncZeroconf", loopback_only)


def pytest_configure(config: Any) -> None:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    # A mesh secret in the developer's environment would take the tests' default nodes to the LAN.
    for name in ("MESH_SECRET", "MESH_NAME"):
        os.environ.pop(name, None)
