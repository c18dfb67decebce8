"""``mesh serve NAME``: a node that offers one service until Ctrl-C or SIGTERM.

Each service's command adds its own options to the parser :func:`add_node_arguments` fills with
those of the node (how it joins the mesh), opens its backend, and hands :func:`serve` the object
whose methods are the callbacks, registered under the service's prefix on this node only.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from mesh import Global, MeshError, UsageError


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the service's node: where the controller is (or the mesh to discover), its name, the secret."""
    parser.add_argument("--host", help="the controller's host (default: the UNIX socket under the temp dir)")
    parser.add_argument("--port", type=int, help="the controller's port")
    parser.add_argument("--mesh", help="find the mesh of this name by discovery (mDNS) instead of a controller")
    parser.add_argument("--interfaces", nargs="+", metavar="IP_OR_NAME", help="where discovery runs (default: all)")
    parser.add_argument("--name", help="this node's name in the mesh (default: the service's name and a random suffix)")
    parser.add_argument(
        "--secret",
        help="the mesh secret (default: $MESH_SECRET, which keeps it out of the process list)",
    )


def serve(
    options: argparse.Namespace, service: str, target: object, prefix: str, described: str, close: Callable[[], None]
) -> int:
    """Join the mesh as ``options`` say, offer ``target``'s methods under ``prefix`` from this node, and
    serve until SIGINT or SIGTERM; then leave the mesh and ``close()`` the backend. The exit code.

    ``described`` (the backend and its address) goes in the line printed once the node serves:
    ``serving kv as NAME at ADDRESS: DESCRIBED``.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            g = _join(options, service)
        except MeshError as exc:
            print(f"mesh serve {service}: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, UsageError) else 1
        try:
            g.register(target, prefix=prefix)
            print(f"serving {service} as {g.process_name} at {g.address}: {described}", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            g.stop()
    finally:
        close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _join(options: argparse.Namespace, service: str) -> Global:
    discovery = True if options.mesh is not None and options.host is None and options.port is None else None
    return Global(
        options.name or f"{service}-{secrets.token_hex(3)}",
        host=options.host,
        port=options.port,
        mesh_name=options.mesh,
        discovery=discovery,
        interfaces=options.interfaces,
        secret=options.secret,
    )
