"""A node's own Prometheus endpoint: ``serve_metrics(g, port)``, an HTTP server in a thread of its own."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from mesh import FG, Global

from ..dashboard._http import HTTPThread, reply
from ..wire._security import check_listen_address
from ._render import CONTENT_TYPE, render


class MetricsServer:
    """An HTTP server answering ``GET /metrics`` with the Prometheus text of ``scrape()``; :meth:`close` it."""

    def __init__(self, scrape: Callable[[], bytes], host: str, port: int) -> None:
        self._http = HTTPThread(_handler(scrape), host, port, "mesh-metrics", None)
        self.host = host
        self.port = self._http.port

    @property
    def url(self) -> str:
        """Where Prometheus scrapes it."""
        return self._http.url("/metrics")

    def close(self) -> None:
        """Stop serving; idempotent."""
        self._http.close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve_metrics(g: Global, port: int = 0, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``g``'s node's statistics as Prometheus metrics on ``http://host:port/metrics`` (port 0:
    any free port; see :attr:`MetricsServer.port`), until :meth:`MetricsServer.close`.

    The metrics tell who calls what and how often: like the mesh itself they are served beyond
    loopback only when the mesh is protected (:attr:`Global.protected`: a secret or TLS).

    Raises:
        UsageError: ``host`` is reachable from other machines and ``g`` has neither secret nor TLS.
        OSError: the port is taken.
    """
    check_listen_address(host, b"" if g.protected else None, None, "metrics", f"{host}:{port}")

    def scrape() -> bytes:
        snapshot = g.call.mesh.stats() & FG(receiver=g.process_name, timeout=5)
        return render({g.process_name: snapshot})

    return MetricsServer(scrape, host, port)


def _handler(scrape: Callable[[], bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "only /metrics is here")
                return
            reply(self, scrape(), CONTENT_TYPE)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
