"""grpcmesh's pytest plugin: the ``start_mesh`` fixture (docs/testing.md).

pytest loads it in every run of an environment where grpcmesh is installed (the ``pytest11`` entry
point); ``-p no:grpcmesh`` turns it off. It lives inside ``mesh`` so that the wheel installs no
top-level name but ``mesh`` and ``controller``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ._mesh import LocalMesh, local_mesh


@pytest.fixture
def start_mesh() -> Iterator[Callable[..., LocalMesh]]:
    """Start a mesh of a controller and nodes: ``m = start_mesh(nodes=2, callbacks="myapp.handlers")``.

    Takes the arguments of :func:`mesh.testing.local_mesh` and returns the started
    :class:`~mesh.testing.LocalMesh`. Every mesh started is stopped when the test ends, its child
    processes killed after their grace, its sockets removed.
    """
    started: list[LocalMesh] = []

    def start(*args: Any, **kwargs: Any) -> LocalMesh:
        mesh = local_mesh(*args, **kwargs)
        mesh.__enter__()
        started.append(mesh)
        return mesh

    yield start
    for mesh in reversed(started):
        mesh.close()
