"""An HTTP server of the standard library in a thread of its own: what the dashboard and a node's
metrics endpoint are served by."""

from __future__ import annotations

import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("mesh")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that goes, or a client refused by TLS: a line in the debug log, not a traceback.
        logger.debug("a request from %s failed", client_address, exc_info=True)


class HTTPThread:
    """Serves ``handler`` on ``host:port`` (port 0: any free one), over TLS with ``context``, in a
    thread named ``name``, until :meth:`close`."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], host: str, port: int, name: str, context: ssl.SSLContext | None
    ) -> None:
        self._server = _Server((host, port), handler)
        self.scheme = "http"
        if context is not None:
            # The handshake happens in the request's thread, so a client that never completes it holds
            # up no one else.
            listening = self._server.socket
            self._server.socket = context.wrap_socket(listening, server_side=True, do_handshake_on_connect=False)
            self.scheme = "https"
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        """The address of ``path`` (which starts with ``/``) on this server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        """Stop serving; idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


def reply(handler: BaseHTTPRequestHandler, body: bytes, content_type: str) -> None:
    """Answer ``handler``'s request with ``body``, never cached."""
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    handler.wfile.write(body)
