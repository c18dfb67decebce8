"""``mesh serve NAME``: a node that offers one service until Ctrl-C or SIGTERM (``mesh call`` takes its node options).

Each service's command adds its own options to the parser :func:`add_node_arguments` fills with
those of the node (how it joins the mesh), opens its backend, and hands :func:`serve` the function
that offers the service from the node (its callbacks registered under its prefix, on this node only).
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from mesh import Global, MeshError, TLSConfig, UsageError, configure_logging


def service_parser(
    services: Any, name: str, run: Callable[[argparse.Namespace], int], client: str, help: str, description: str
) -> argparse.ArgumentParser:
    """Add ``mesh serve NAME`` to ``services`` (the subcommands of ``mesh serve``): its ``--prefix`` (default
    ``name``, as the ``client`` class calls it) and the node's options; the service adds where it keeps its
    data. ``run(options)`` carries the command out."""
    parser: argparse.ArgumentParser = services.add_parser(name, help=help, description=description)
    parser.add_argument("--prefix", default=name, help=f"the callbacks' prefix (default: {name}, as {client}(g) calls)")
    add_node_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def refused(service: str, problem: object, code: int) -> int:
    """Say why ``mesh serve SERVICE`` cannot go on; return the exit code ``code`` (2: bad options, 1: the rest)."""
    print(f"mesh serve {service}: {problem}", file=sys.stderr)
    return code


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the service's node: where the controller is (or the mesh to discover), its name and
    address, the secret and TLS."""
    parser.add_argument("--host", help="the controller's host (default: the UNIX socket under the temp dir)")
    parser.add_argument("--port", type=int, help="the controller's port")
    parser.add_argument("--mesh", help="find the mesh of this name by discovery (mDNS) instead of a controller")
    parser.add_argument("--interfaces", nargs="+", metavar="IP_OR_NAME", help="where discovery runs (default: all)")
    parser.add_argument("--name", help="this node's name in the mesh (default: the service's name and a random suffix)")
    parser.add_argument("--listen", help="this node's address, host:port or unix:/path (default: as Global's)")
    parser.add_argument(
        "--secret",
        help="the mesh secret (default: $MESH_SECRET, which keeps it out of the process list)",
    )
    parser.add_argument("--tls-cert", help="mutual TLS: this node's certificate (PEM file)")
    parser.add_argument("--tls-key", help="the private key of --tls-cert (PEM file)")
    parser.add_argument("--tls-ca", help="the CA certificate that signs every certificate of the mesh (PEM file)")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="a live log on stderr, each line with the node name (-vv: debug)",
    )
    parser.add_argument("--log-json", action="store_true", help="with -v: one JSON object a line")


def serve(
    options: argparse.Namespace,
    service: str,
    offer: Callable[[Global], object],
    described: str,
    close: Callable[[], None],
) -> int:
    """Join the mesh as ``options`` say, ``offer(g)`` the service from this node, and serve until SIGINT or
    SIGTERM; then leave the mesh and ``close()`` the backend. The exit code.

    ``described`` (the backend, its address and the prefix) goes in the line printed once the node
    serves: ``SERVICE serving DESCRIBED; node NAME at ADDRESS``.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    if options.verbose:
        configure_logging("DEBUG" if options.verbose > 1 else "INFO", json_lines=options.log_json)
    try:
        try:
            g = Global(options.name or f"{service}-{secrets.token_hex(3)}", **node_settings(options))
        except MeshError as exc:
            return refused(service, exc, 2 if isinstance(exc, UsageError) else 1)
        try:
            offer(g)
            print(f"{service} serving {described}; node {g.process_name} at {g.address}", flush=True)
            while not stop.wait(0.5):
                pass
        except (MeshError, OSError) as exc:
            return refused(service, exc, 1)
        finally:
            g.stop()
    finally:
        close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def node_settings(options: argparse.Namespace) -> dict[str, Any]:
    """``Global``'s arguments (but the name) from the options of :func:`add_node_arguments`."""
    discovery = True if options.mesh is not None and options.host is None and options.port is None else None
    return {
        "host": options.host,
        "port": options.port,
        "listen": options.listen,
        "mesh_name": options.mesh,
        "discovery": discovery,
        "interfaces": options.interfaces,
        "secret": options.secret,
        "tls": tls_config(options),
    }


def tls_config(options: argparse.Namespace) -> TLSConfig | None:
    """The TLS of ``--tls-cert``, ``--tls-key`` and ``--tls-ca`` (None without them); all three or none.

    Raises:
        UsageError: only some of the three are given.
    """
    files = (options.tls_cert, options.tls_key, options.tls_ca)
    if not any(files):
        return None
    if not all(files):
        raise UsageError("--tls-cert, --tls-key and --tls-ca go together")
    return TLSConfig(cert=options.tls_cert, key=options.tls_key, ca=options.tls_ca)
