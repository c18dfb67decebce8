"""``mesh dashboard`` and ``mesh top``: join the mesh as an observing node and show it (mesh/dashboard/)."""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import threading
from typing import Any

from .errors import MeshError, UsageError


def add_parsers(commands: Any) -> None:
    """Add ``dashboard`` and ``top`` to the ``mesh`` command line's subcommands."""
    dashboard = commands.add_parser("dashboard", help="serve a live web page of the mesh (members, calls, links)")
    _add_mesh_arguments(dashboard)
    dashboard.add_argument(
        "--bind",
        default="127.0.0.1",
        help="address the page listens on (default 127.0.0.1; another needs --secret or TLS, and then the "
        "page asks for the token printed at start)",
    )
    dashboard.add_argument("--http-port", type=int, default=8321, help="the page's port (default 8321; 0: any)")
    dashboard.add_argument(
        "--pipeline",
        action="append",
        default=[],
        metavar="MODULE:OBJECT",
        help="also show this pipeline's diagram (a Plumber or its graph dict; repeatable)",
    )
    dashboard.set_defaults(run=_cmd_dashboard)

    top = commands.add_parser("top", help="a live table of the nodes and their call rates")
    _add_mesh_arguments(top)
    top.add_argument("--iterations", type=int, help="refresh this many times, then exit (default: until Ctrl-C)")
    top.add_argument("--once", action="store_const", const=1, dest="iterations", help="one table, then exit")
    top.set_defaults(run=_cmd_top)


def _add_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    from .cli import _add_security_arguments

    parser.add_argument("--host", help="the controller's host (default: the UNIX socket under the temp dir)")
    parser.add_argument("--port", type=int, help="the controller's port")
    parser.add_argument("--peer", action="append", default=[], help="a node's address to link to (no controller)")
    parser.add_argument("--discovery", action="store_true", help="find the nodes on the LAN by mDNS")
    parser.add_argument("--mesh", help="the mesh name (default: default)")
    parser.add_argument("--interfaces", nargs="+", metavar="IP_OR_NAME", help="where to run mDNS (default: all)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between two polls of the nodes")
    _add_security_arguments(parser)


def _observer(options: argparse.Namespace, role: str, tls: Any) -> Any:
    """This command's node: a member named ``mesh-<role>-...`` that the views leave out."""
    from mesh import Global

    if options.interval <= 0:
        raise UsageError(f"--interval must be above 0, not {options.interval}")
    return Global(
        process_name=f"mesh-{role}-{secrets.token_hex(4)}",
        host=options.host,
        port=options.port,
        peers=options.peer,
        discovery=True if options.discovery or options.mesh or options.interfaces else None,
        mesh_name=options.mesh,
        interfaces=options.interfaces,
        secret=options.secret,
        tls=tls,
    )


def _cmd_dashboard(options: argparse.Namespace) -> int:
    from .dashboard import Collector, DashboardServer
    from .pipelines._show import drawing, load
    from .services._serving import tls_config
    from .wire._security import resolve_secret

    try:
        diagrams = {target: drawing(load(target)) for target in options.pipeline}
        tls = tls_config(options)
        g = _observer(options, "dashboard", tls)
    except MeshError as exc:
        print(f"mesh dashboard: {exc}", file=sys.stderr)
        return 2
    try:
        collector = Collector(g, options.interval, diagrams)
        try:
            server = DashboardServer(collector, options.bind, options.http_port, resolve_secret(options.secret), tls)
        except (MeshError, OSError) as exc:
            print(f"mesh dashboard: {exc}", file=sys.stderr)
            return 2
        collector.start()
        print(f"dashboard on {server.url}", flush=True)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        server.close()
    finally:
        g.stop()
    return 0


def _cmd_top(options: argparse.Namespace) -> int:
    from .dashboard import Collector
    from .services._serving import tls_config

    try:
        from .dashboard._top import run_top
    except ImportError as exc:
        print(f"mesh top needs rich ({exc}): pip install 'grpcmesh[top]'", file=sys.stderr)
        return 2
    if options.iterations is not None and options.iterations < 1:
        print(f"mesh top: --iterations must be 1 or more, not {options.iterations}", file=sys.stderr)
        return 2
    try:
        g = _observer(options, "top", tls_config(options))
    except MeshError as exc:
        print(f"mesh top: {exc}", file=sys.stderr)
        return 2
    try:
        run_top(Collector(g, options.interval), options.iterations)
    finally:
        g.stop()
    return 0
