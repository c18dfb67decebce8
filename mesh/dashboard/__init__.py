"""The live dashboard of a mesh (``mesh dashboard``) and ``mesh top``: a collector that polls every
node's ``mesh.stats``, the web page it feeds, and the terminal table. See docs/dashboard.md."""

from ._collector import Collector as Collector
from ._server import DashboardServer as DashboardServer
from ._server import page_token as page_token
from ._view import build_view as build_view

__all__ = ["Collector", "DashboardServer", "build_view", "page_token"]
