"""The grpcmesh controller: an optional membership service for a mesh.

Run it standalone with ``mesh controller --host H --port P`` or ``python -m controller``, or in a
node's process with ``Global(init_controller=True)``. The implementation lives in the mesh's
membership layer (``mesh.membership._controller_server``); this package is its public face and imports the mesh,
never the other way round.
"""

from __future__ import annotations

from mesh.membership._controller_server import ControllerServer as ControllerServer
from mesh.membership._controller_server import ControllerService as ControllerService

__all__ = ["ControllerServer", "ControllerService"]
