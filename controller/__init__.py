"""The grpcmesh controller: an optional membership service for a mesh.

Run it standalone with ``mesh controller --host H --port P`` or ``python -m controller``, or in a
node's process with ``Global(init_controller=True)``.
"""

from __future__ import annotations

from ._service import ControllerServer as ControllerServer
from ._service import ControllerService as ControllerService

__all__ = ["ControllerServer", "ControllerService"]
