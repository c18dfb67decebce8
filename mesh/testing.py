"""A throwaway mesh for your own tests: a controller and N nodes, all stopped on exit.

::

    from mesh import FG
    from mesh.testing import local_mesh

    def test_add():
        with local_mesh(nodes=2, callbacks="myapp.handlers") as m:
            assert m.g.call.add(1, 2) & FG == 3
            m.node("node-1").kill()                     # a failure test: SIGKILL one node

    async def test_add_async():
        async with local_mesh(nodes=2, callbacks="myapp.handlers") as m:
            assert await m.g.call.add(1, 2) & FG == 3

With pytest, the ``start_mesh`` fixture does the same (see docs/testing.md).

The controller runs in this process, beside the node ``m.g`` that the test calls from. The nodes
are child processes (``in_process=False``, the default; started with subprocess, never fork) that
import the callback modules named, or nodes in this process, which offer this process's callbacks.
Nodes listen on UNIX sockets in a private temporary folder and the controller on a port of
127.0.0.1 that the kernel picks, so parallel test runs never clash. On exit every child gets
SIGTERM, then SIGKILL after ``stop_grace`` seconds, and the folder is removed.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from . import Global
from .errors import CallTimeout, NodeStopped, PeerUnavailable, UsageError

__all__ = ["CALLER", "LocalMesh", "MeshNode", "local_mesh"]

CALLER = "caller"
"""The name of ``LocalMesh.g``, the node of the test's own process."""

# Sockets go under the temp dir unless its path leaves too little of a UNIX socket path's 108 bytes.
_LONGEST_SOCKET_BASE = 70
_POLL = 0.02


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
        log = _log_path(self.address)
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


class LocalMesh:
    """A controller and nodes for a test; use it with ``with`` or ``async with`` (see :func:`local_mesh`).

    Once entered:

    - ``g``: the :class:`~mesh.Global` of this process (named :data:`CALLER`), which runs the
      controller; call the nodes through it: ``m.g.call.fn(...) & FG``.
    - ``nodes``: a :class:`MeshNode` per node, in order; ``names``: their names; ``node(name)``.
    - ``controller_address``: ``127.0.0.1:PORT``; ``mesh_name``; ``directory``: the private folder.
    """

    def __init__(
        self,
        nodes: int | Sequence[str] = 1,
        *,
        callbacks: str | Sequence[str] = (),
        in_process: bool = False,
        mesh_name: str | None = None,
        start_timeout: float = 30.0,
        stop_grace: float = 5.0,
    ) -> None:
        self.names = _node_names(nodes)
        self.modules = [callbacks] if isinstance(callbacks, str) else list(callbacks)
        for module in self.modules:
            _check_module(module)
        self.in_process = in_process
        self.mesh_name = mesh_name or f"test-{secrets.token_hex(4)}"
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.nodes: list[MeshNode] = []
        self._g: Global | None = None
        self._directory: Path | None = None

    @property
    def g(self) -> Global:
        """The node of this process, which runs the controller (named :data:`CALLER`)."""
        if self._g is None:
            raise UsageError("the mesh is not started: use `with local_mesh(...) as m:` (or `async with`)")
        return self._g

    @property
    def directory(self) -> Path:
        """The private folder of the nodes' UNIX sockets and the children's output."""
        if self._directory is None:
            raise UsageError("the mesh is not started: use `with local_mesh(...) as m:` (or `async with`)")
        return self._directory

    @property
    def controller_address(self) -> str:
        """The controller's address, ``127.0.0.1:PORT``."""
        return self.g.controller_address

    def node(self, name: str) -> MeshNode:
        """The node named ``name``.

        Raises:
            UsageError: no node of this mesh has that name.
        """
        for node in self.nodes:
            if node.name == name:
                return node
        raise UsageError(f"no node named {name!r} in this mesh; its nodes are {self.names}")

    # ------------------------------------------------------------------ sync face

    def __enter__(self) -> LocalMesh:
        try:
            self._begin()
            self._add_nodes(lambda node: None)  # a sync Global returns once it has joined
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every node, the controller and ``g``, and remove the private folder. Idempotent."""
        try:
            self._stop_children()
            for node in self.nodes:
                node.stop()
            if self._g is not None:
                self._g.stop()
        finally:
            self._remove_directory()

    # ------------------------------------------------------------------ async face

    async def __aenter__(self) -> LocalMesh:
        try:
            self._begin()
            await self.g.__aenter__()
            started: list[Global] = []
            self._add_nodes(started.append)
            for node in started:
                await node.__aenter__()
            await self._wait_ready_async()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """The async form of :meth:`close`."""
        try:
            await asyncio.to_thread(self._stop_children)
            for node in self.nodes:
                await node.stop_async()
            if self._g is not None:
                await self._g.stop_async()
        finally:
            self._remove_directory()

    # ------------------------------------------------------------------ shared steps

    def _begin(self) -> None:
        if self._directory is not None:
            raise UsageError("a LocalMesh starts once; make a new one with local_mesh(...)")
        self._directory = Path(tempfile.mkdtemp(prefix="mesh-", dir=_socket_base()))
        if self.in_process:
            for module in self.modules:
                importlib.import_module(module)
        self._g = Global(
            process_name=CALLER,
            init_controller=True,
            host="127.0.0.1",
            listen=self._socket(CALLER),
            mesh_name=self.mesh_name,
            discovery=False,
            stop_grace=self.stop_grace,
        )

    def _add_nodes(self, started: Callable[[Global], object]) -> None:
        port = int(self.g.controller_address.rpartition(":")[2])
        for index, name in enumerate(self.names):
            address = self._socket(f"n{index}")
            if self.in_process:
                node = Global(
                    process_name=name,
                    host="127.0.0.1",
                    port=port,
                    listen=address,
                    mesh_name=self.mesh_name,
                    discovery=False,
                    stop_grace=self.stop_grace,
                )
                started(node)
                self.nodes.append(MeshNode(name, address, node=node))
            else:
                process = _spawn(name, port, address, self.mesh_name, self.modules)
                self.nodes.append(MeshNode(name, address, process=process))

    def _socket(self, stem: str) -> str:
        return f"unix:{self.directory / stem}.sock"

    def _pending(self) -> list[str]:
        """The nodes not yet in ``g``'s view of the mesh; raises if a child died or time is up."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is not None:
                raise PeerUnavailable(
                    f"node {node.name!r} (pid {node.pid}) exited with code {node.process.returncode} before it "
                    f"joined the mesh; its output:\n{node.output()}"
                )
        joined = {member["name"] for member in self.g.members()}
        return [name for name in self.names if name not in joined]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while self._pending():
            self._check_deadline(deadline)
            time.sleep(_POLL)

    async def _wait_ready_async(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while self._pending():
            self._check_deadline(deadline)
            await asyncio.sleep(_POLL)

    def _check_deadline(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            outputs = "".join(f"\n--- {n.name} (pid {n.pid}):\n{n.output()}" for n in self.nodes if n.process)
            raise CallTimeout(f"nodes {self._pending()} did not join the mesh within {self.start_timeout} s{outputs}")

    def _stop_children(self) -> None:
        deadline = time.monotonic() + self.stop_grace
        children = [node for node in self.nodes if node.process is not None]
        for node in children:
            node._terminate()
        for node in children:
            node._reap(deadline)

    def _remove_directory(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def __repr__(self) -> str:
        where = "in this process" if self.in_process else "child processes"
        return f"<LocalMesh {self.mesh_name!r} nodes={self.names} ({where})>"


def local_mesh(
    nodes: int | Sequence[str] = 1,
    *,
    callbacks: str | Sequence[str] = (),
    in_process: bool = False,
    mesh_name: str | None = None,
    start_timeout: float = 30.0,
    stop_grace: float = 5.0,
) -> LocalMesh:
    """A controller and ``nodes`` nodes, started by ``with`` (or ``async with``) and stopped on exit.

    Entering returns once every node is a member of ``g``'s view of the mesh, with the callbacks
    it offered at start, so a call made next reaches them.

    Args:
        nodes: how many nodes (named ``node-0``, ``node-1``, ...), or their names.
        callbacks: importable module names (or one) whose ``@callback`` functions the nodes offer.
            Each child imports them (with this process's ``sys.path``); for ``in_process=True`` they
            are imported here, and the nodes offer every callback of this process.
        in_process: run the nodes in this process (each a :class:`~mesh.Global` on a thread of its
            own, or on the running event loop with ``async with``) instead of child processes.
        mesh_name: the mesh's name (default: a random ``test-...``, so that no other node joins).
        start_timeout: seconds the nodes get to join; then :class:`~mesh.errors.CallTimeout`.
        stop_grace: seconds the nodes get to stop on exit; then the children are killed.

    Raises:
        UsageError: bad ``nodes``, or a callbacks module that cannot be found (at once).
        PeerUnavailable: a child process exited before it joined (its output is in the message).
        CallTimeout: the nodes did not join within ``start_timeout``.
    """
    return LocalMesh(
        nodes,
        callbacks=callbacks,
        in_process=in_process,
        mesh_name=mesh_name,
        start_timeout=start_timeout,
        stop_grace=stop_grace,
    )


def _node_names(nodes: int | Sequence[str]) -> list[str]:
    if isinstance(nodes, bool) or not isinstance(nodes, (int, Sequence)) or isinstance(nodes, str):
        raise UsageError(f"nodes must be a number of nodes or a list of names, not {nodes!r}")
    if isinstance(nodes, int):
        if nodes < 0:
            raise UsageError(f"nodes must be 0 or more, not {nodes}")
        return [f"node-{i}" for i in range(nodes)]
    names = list(nodes)
    if not all(isinstance(name, str) and name for name in names):
        raise UsageError(f"node names must be non-empty strings: {names!r}")
    if len(set(names)) != len(names) or CALLER in names:
        raise UsageError(f"node names must be distinct and not {CALLER!r} (this process's node): {names!r}")
    return names


def _check_module(module: object) -> None:
    try:
        found = isinstance(module, str) and importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if not found:
        raise UsageError(f"callbacks module {module!r} cannot be found: give the name of a module on sys.path")


def _socket_base() -> str:
    base = tempfile.gettempdir()
    if len(base) > _LONGEST_SOCKET_BASE and os.path.isdir("/tmp"):
        return "/tmp"
    return base


def _log_path(address: str) -> Path:
    return Path(address.removeprefix("unix:")).with_suffix(".log")


def _spawn(name: str, port: int, address: str, mesh_name: str, modules: list[str]) -> subprocess.Popen[bytes]:
    path = [entry or os.getcwd() for entry in sys.path]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONUNBUFFERED="1")
    with _log_path(address).open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mesh._testing_node", name, str(port), address, mesh_name, *modules],
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
