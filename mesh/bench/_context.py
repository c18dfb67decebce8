"""What the service rows share: the run's caller node and counts, the services' nodes started as
``mesh serve`` starts them, and the servers they need (redis-server, moto) waited for."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from mesh import Global

from ._counts import JOIN_TIMEOUT, Counts, Transport
from ._proc import Child, Children

# Reasons printed once per benchmark for rows skipped (a server or a client library missing).
_said: set[str] = set()

# Runs a flood into the results under a key, with the CPU per call of this process and of the process
# the factory is given (mesh.bench._mesh._Flood).
FloodOn = Callable[[int], Callable[[str, int, Callable[[], float]], None]]


class Context:
    """What a service's rows need: the caller node, the counts, where children and files go."""

    def __init__(
        self, g: Global, transport: Transport, counts: Counts, children: Children, folder: str, flood_on: FloodOn
    ) -> None:
        self.g, self.transport, self.counts, self.children = g, transport, counts, children
        self.folder = folder
        self.flood_on = flood_on

    def serve(self, service: str, prefix: str, *options: str, env: dict[str, str] | None = None) -> Child:
        """``mesh serve SERVICE OPTIONS --prefix PREFIX`` as a node of the run, once this node sees it."""
        child = self.children.start(
            "mesh", "serve", service, *options, "--prefix", prefix, "--name", f"bench-{prefix}",
            *self.transport.callee_args(), env=env,
        )  # fmt: skip
        child.wait_line(f"{service} serving", timeout=JOIN_TIMEOUT)
        self.g.wait_function(f"{prefix}.get", timeout=JOIN_TIMEOUT)  # both services offer a get
        return child


def skipped(reason: str) -> None:
    """Say once, on the table's output, why some rows are left out."""
    if reason not in _said:
        _said.add(reason)
        print(f"bench: {reason}", flush=True)


def wait_port(port: int, child: Child, what: str, timeout: float = 30.0) -> None:
    """Return once ``127.0.0.1:port`` accepts connections.

    Raises:
        RuntimeError: ``child`` exited first, or ``timeout`` passed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.popen.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{''.join(child.output)}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def prefixed(prefix: str, rows: dict[str, float]) -> dict[str, float]:
    """``rows`` with each key under ``prefix``."""
    return {f"{prefix}_{key}": value for key, value in rows.items()}
