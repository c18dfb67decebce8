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
SIGTERM, then SIGKILL if it still runs a second after ``stop_grace``, and the folder is removed.
"""

from __future__ import annotations

from ._mesh import CALLER as CALLER
from ._mesh import LocalMesh as LocalMesh
from ._mesh import local_mesh as local_mesh
from ._nodes import MeshNode as MeshNode

__all__ = ["CALLER", "LocalMesh", "MeshNode", "local_mesh"]
