"""``MeshNode``: one node of a ``LocalMesh``, and the start of a child node's process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from mesh import Global, NodeStopped, UsageError


class MeshNode:
    """One node of a :class:`LocalMesh`: a child process, or a :class:`~mesh.Global` of this process."""

    def __init__(
        self, name: str, address: str, *, process: subprocess.Popen[bytes] | None = None, node: Global | None = None
    ) -> None:
        self.name = name
        """The node's name in the mesh."""
        self.address = address
        """The UNIX socket address it listens on."""
        self.process = process
        """The child process (None for a node in this process)."""
        self.g = node
        """The node's ``Global`` when it runs in this process, else None."""

    @property
    def in_process(self) -> bool:
        """Whether the node runs in this process."""
        return self.process is None

    @property
    def pid(self) -> int:
        """The process the node runs in (this one's for a node in this process)."""
        return os.getpid() if self.process is None else self.process.pid

    @property
    def alive(self) -> bool:
        """Whether the child process still runs (a node in this process: whether it is not stopped)."""
        if self.process is None:
            return self.g is not None and self.g.address != "" and not _stopped(self.g)
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it ended (negative: the signal that ended it), else None."""
        return None if self.process is None else self.process.poll()

    def output(self) -> str:
        """What the child process wrote to stdout and stderr so far ("" for a node in this process)."""
        log = log_path(self.address)
        return log.read_text(errors="replace") if self.process is not None and log.exists() else ""

    def kill(self) -> None:
        """Kill the child process with SIGKILL, as a crash would, and reap it.

        Raises:
            UsageError: the node runs in this process, which cannot be killed alone.
        """
        if self.process is None:
            raise UsageError(f"node {self.name!r} runs in this process: kill() needs in_process=False; stop() it")
        self.process.kill()
        self.process.wait()
        _close(self.process.stdin)

    def stop(self, grace: float = 5.0) -> None:
        """Stop the node: SIGTERM to a child (then SIGKILL after ``grace`` seconds), ``stop()`` in this
        process. Idempotent. From async code use :meth:`stop_async`."""
        if self.process is None:
            if self.g is not None:
                self.g.stop()
            return
        self._terminate()
        self._reap(time.monotonic() + grace)

    async def stop_async(self, grace: float = 5.0) -> None:
        """The async form of :meth:`stop`."""
        if self.g is not None:
            await self.g.stop_async()
        else:
            await asyncio.to_thread(self.stop, grace)

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def _reap(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        _close(self.process.stdin)

    def __repr__(self) -> str:
        where = "in this process" if self.process is None else f"pid {self.pid}"
        return f"<MeshNode {self.name!r} {where} {self.address}>"


def stop_children(nodes: Sequence[MeshNode], grace: float) -> None:
    """SIGTERM to every child among ``nodes`` at once, then reap each, killing those still running after ``grace``."""
    deadline = time.monotonic() + grace
    children = [node for node in nodes if node.process is not None]
    for node in children:
        node._terminate()
    for node in children:
        node._reap(deadline)


def log_path(address: str) -> Path:
    """The file of a child's output: beside its socket, ``<name>.log``."""
    return Path(address.removeprefix("unix:")).with_suffix(".log")


def spawn(
    name: str, address: str, port: int, mesh_name: str, modules: list[str], stop_grace: float
) -> subprocess.Popen[bytes]:
    """Start a child node (``mesh.testing._child``) with this process's ``sys.path``, output to its log file."""
    path = [entry or os.getcwd() for entry in sys.path]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONUNBUFFERED="1")
    arguments = [name, address, str(port), mesh_name, str(stop_grace), *modules]
    with log_path(address).open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mesh.testing._child", *arguments],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _stopped(node: Global) -> bool:
    try:
        node.statistics()
    except NodeStopped:
        return True
    return False


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        stream.close()
