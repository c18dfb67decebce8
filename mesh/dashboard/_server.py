"""The dashboard's web server (the standard library's ``http.server``, a thread per request): the page,
its live updates as server-sent events, the view as JSON, and every node's metrics.

::

    GET /              page.html, one static file (no build step)
    GET /events        text/event-stream: the view as JSON, again whenever the collector has a new one
    GET /view.json     the latest view
    GET /metrics       every node's statistics as Prometheus text (needs the metrics extra)

It listens on loopback unless the mesh is protected, by the rule of the mesh itself: another address
needs the mesh secret or TLS. With a secret every request carries ``?token=`` (:func:`page_token`,
derived from the secret, so the secret itself is never in a URL); with TLS the server speaks HTTPS
and asks the browser for a certificate signed by the mesh's CA.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import tempfile
from http.server import BaseHTTPRequestHandler
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..wire._security import TLSConfig, check_listen_address
from ._collector import Collector
from ._http import HTTPThread, reply

# How often an idle event stream sends a comment, so that a closed browser is noticed.
KEEPALIVE = 15.0


def page_token(secret: bytes) -> str:
    """The token the page asks for when the mesh has ``secret``: an HMAC of it, not the secret."""
    return hmac.new(secret, b"grpcmesh dashboard", hashlib.sha256).hexdigest()


class DashboardServer:
    """Serves ``collector``'s view on ``host:port`` (port 0: any free one) until :meth:`close`.

    Raises:
        UsageError: ``host`` is reachable from other machines and there is neither ``secret`` nor ``tls``.
        OSError: the port is taken.
    """

    def __init__(
        self,
        collector: Collector,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: bytes | None = None,
        tls: TLSConfig | None = None,
    ) -> None:
        check_listen_address(host, secret, tls, "dashboard", f"{host}:{port}")
        self.collector = collector
        self.token = None if secret is None else page_token(secret)
        context = None if tls is None else _tls_context(tls)
        self._http = HTTPThread(_handler(self), host, port, "mesh-dashboard", context)
        self.scheme = self._http.scheme
        self.host = host
        self.port = self._http.port

    @property
    def url(self) -> str:
        """The page's address, with its token when there is one."""
        return self._http.url("/" if self.token is None else f"/?token={self.token}")

    def close(self) -> None:
        """Stop serving (open event streams end); idempotent."""
        self.collector.stop()
        self._http.close()


def _tls_context(tls: TLSConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert, key, ca = tls.pem()
    context.load_verify_locations(cadata=ca.decode())
    context.verify_mode = ssl.CERT_REQUIRED
    # ssl loads a certificate chain only from files: TLSConfig may hold PEM bytes, so write them to a
    # private temporary directory for the call.
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        context.load_cert_chain(cert_file, key_file)
    return context


def _handler(dashboard: DashboardServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if dashboard.token is not None:
                given = parse_qs(url.query).get("token", [""])[0]
                if not hmac.compare_digest(given, dashboard.token):
                    self.send_error(403, "this dashboard needs its token: open the address `mesh dashboard` printed")
                    return
            route = _ROUTES.get(url.path)
            if route is None:
                self.send_error(404, "not here: /, /events, /view.json, /metrics")
                return
            route(self, dashboard)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _page(handler: BaseHTTPRequestHandler, dashboard: DashboardServer) -> None:
    reply(handler, files(__package__).joinpath("page.html").read_bytes(), "text/html; charset=utf-8")


def _view(handler: BaseHTTPRequestHandler, dashboard: DashboardServer) -> None:
    reply(handler, json.dumps(dashboard.collector.view).encode(), "application/json")


def _metrics(handler: BaseHTTPRequestHandler, dashboard: DashboardServer) -> None:
    try:
        from ..metrics._render import CONTENT_TYPE, render
    except ImportError:
        handler.send_error(501, "metrics need prometheus-client: pip install 'grpcmesh[metrics]'")
        return
    reply(handler, render(dashboard.collector.snapshots), CONTENT_TYPE)


def _events(handler: BaseHTTPRequestHandler, dashboard: DashboardServer) -> None:
    """The view, then each newer one, as server-sent events, until the browser goes or the server stops."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    collector = dashboard.collector
    seen = -1
    try:
        while not collector.stopped:
            version, view = collector.wait_view(seen, KEEPALIVE)
            if version == seen:
                handler.wfile.write(b": still here\n\n")
            else:
                seen = version
                handler.wfile.write(b"data: " + json.dumps(view).encode() + b"\n\n")
            handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        return


_ROUTES = {"/": _page, "/events": _events, "/view.json": _view, "/metrics": _metrics}
