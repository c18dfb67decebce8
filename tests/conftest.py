"""Fixtures: real peer processes and controllers, cleaned up by PID, and a leak check."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh import _registry

ROOT = Path(__file__).resolve().parent.parent
# The console script installed beside this interpreter (the venv need not be on PATH).
MESH_COMMAND = str(Path(sys.executable).parent / "mesh")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Proc:
    """A child process whose output lines are collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.args = args
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_line(self, prefix: str, timeout: float = 20.0) -> str:
        """The first output line starting with ``prefix``; fails if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line {prefix!r} from {self.args} in {timeout} s:\n{self.text()}")
            try:
                line = self.lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    raise AssertionError(
                        f"{self.args} exited with {self.popen.returncode} before {prefix!r}:\n{self.text()}"
                    ) from None
                continue
            if line.startswith(prefix):
                return line.strip()

    def text(self) -> str:
        time.sleep(0.05)
        return "".join(self.output)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(3)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self._reader.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start a child process (``python -m MODULE args``); every one is stopped by PID at teardown."""
    started: list[Proc] = []
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1")

    def start(*args: str, module: str = "tests.peer", extra_env: dict[str, str] | None = None) -> Proc:
        proc = Proc([sys.executable, "-m", module, *args], env={**env, **(extra_env or {})})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def peer(spawn: Callable[..., Proc]) -> Callable[..., tuple[Proc, str]]:
    """Start ``tests/peer.py`` with the given options and wait until it has joined."""

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
    from tests.lan import Lan  # tests.lan imports this module

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
    from mesh import discovery

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
