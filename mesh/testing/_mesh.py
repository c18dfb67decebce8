"""``LocalMesh``: a controller in this process and nodes in child processes or in this process."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from mesh import CallTimeout, Global, PeerUnavailable, UsageError

from ._nodes import MeshNode, spawn, stop_children

CALLER = "caller"
"""The name of ``LocalMesh.g``, the node of the test's own process."""

# Sockets go under the temp dir unless its path leaves too little of a UNIX socket path's 108 bytes.
_LONGEST_SOCKET_BASE = 70
_POLL = 0.02
# Seconds a child gets beyond its stop_grace to exit, before it is killed.
_EXIT_TIME = 1.0


class LocalMesh:
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
        stop_grace: seconds the nodes let running calls finish when they stop (``Global``'s
            ``stop_grace``); a child still running a second later is killed.

    Raises:
        UsageError: bad ``nodes``, or a callbacks module that cannot be found (at once); ``with``
            inside a running event loop (use ``async with``), or a second start.
        PeerUnavailable: a child process exited before it joined (its output is in the message).
        CallTimeout: the nodes did not join within ``start_timeout``.

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
        if _in_event_loop():
            raise UsageError("local_mesh inside a running event loop starts with `async with`, not `with`")
        self._claim()
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
            stop_children(self.nodes, self.stop_grace + _EXIT_TIME)
            for node in self.nodes:
                node.stop()
            if self._g is not None:
                self._g.stop()
        finally:
            self._remove_directory()

    # ------------------------------------------------------------------ async face

    async def __aenter__(self) -> LocalMesh:
        self._claim()
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
            await asyncio.to_thread(stop_children, self.nodes, self.stop_grace + _EXIT_TIME)
            for node in self.nodes:
                await node.stop_async()
            if self._g is not None:
                await self._g.stop_async()
        finally:
            self._remove_directory()

    # ------------------------------------------------------------------ shared steps

    def _claim(self) -> None:
        if self._directory is not None:
            raise UsageError("a LocalMesh starts once; make a new one with local_mesh(...)")
        self._directory = Path(tempfile.mkdtemp(prefix="mesh-", dir=_socket_base()))

    def _begin(self) -> None:
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
                process = spawn(name, address, port, self.mesh_name, self.modules, self.stop_grace)
                self.nodes.append(MeshNode(name, address, process=process))

    def _socket(self, stem: str) -> str:
        return f"unix:{self.directory / stem}.sock"

    def _pending(self) -> list[str]:
        """The nodes not yet in ``g``'s view of the mesh; raises PeerUnavailable if a child has exited."""
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

    def _remove_directory(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def __repr__(self) -> str:
        where = "in this process" if self.in_process else "child processes"
        return f"<LocalMesh {self.mesh_name!r} nodes={self.names} ({where})>"


local_mesh = LocalMesh
"""The name to start one by: ``with local_mesh(nodes=2, callbacks="myapp.handlers") as m:``."""


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


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
