"""A node's own Prometheus endpoint: ``serve_metrics(g, port)``, an HTTP server in a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mesh import FG, Global

from ..wire._security import check_listen_address
from ._render import render

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer:
    """An HTTP server answering ``GET /metrics`` with the Prometheus text of ``scrape()``; :meth:`close` it."""

    def __init__(self, scrape: Callable[[], bytes], host: str, port: int) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(scrape))
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mesh-metrics", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where Prometheus scrapes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving; idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

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
            body = scrape()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
