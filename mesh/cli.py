"""The ``mesh`` command: ``mesh demo``, ``controller``, ``ls``, ``serve``, ``call``, ``bench``;
``mesh dashboard`` and ``mesh top`` (mesh/_watch_cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .errors import MeshError, UsageError
from .membership._placement import mesh_name_or_default
from .node._logs import configure_logging
from .services._serving import tls_config
from .wire._interfaces import default_listen
from .wire._security import TLSConfig, resolve_secret
from .wire._transport import default_controller_address, tcp_address

if TYPE_CHECKING:
    pass


def _controller_address(host: str | None, port: int | None) -> str:
    if host is None and port is None:
        return default_controller_address()
    return tcp_address(host or "localhost", port or 0)


async def serve_controller(
    address: str,
    secret: str | None = None,
    tls: TLSConfig | None = None,
    announce_to: str | None = None,
    interfaces: Sequence[str] | None = None,
) -> None:
    """Serve a standalone controller on ``address`` until SIGINT or SIGTERM.

    ``secret`` defaults to ``$MESH_SECRET``; see :class:`controller.ControllerServer`. With
    ``announce_to`` (a mesh name) the controller is announced over mDNS on ``interfaces``, and the
    discovering nodes of that mesh join it.
    """
    from .membership._controller_server import ControllerServer
    from .membership.discovery import announce_controller

    server = ControllerServer(address, secret=secret, tls=tls)
    await server.start()
    mdns = None if announce_to is None else await announce_controller(server.address, announce_to, interfaces)
    print(f"controller listening on {server.address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        if mdns is not None:
            await mdns.aclose()
        await server.stop(1.0)


def _cmd_controller(options: argparse.Namespace) -> int:
    configure_logging(
        logging.INFO if options.verbose else logging.WARNING, json_lines=options.log_json, node="controller"
    )
    try:
        tls = tls_config(options)
        announce_to = mesh_name_or_default(options.mesh) if options.discovery else None
        if options.discovery and options.host is None and options.port is None:
            address = default_listen(options.interfaces)
        else:
            address = _controller_address(options.host, options.port)
        asyncio.run(serve_controller(address, options.secret, tls, announce_to, options.interfaces))
    except UsageError as exc:
        print(f"mesh controller: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_demo(options: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main()


def _cmd_ls(options: argparse.Namespace) -> int:
    by_discovery = options.host is None and options.port is None
    by_discovery = by_discovery and (options.discovery or options.mesh is not None or options.interfaces is not None)
    try:
        asyncio.run(_ls_discovered(options) if by_discovery else _ls_controller(options))
    except MeshError as exc:
        print(f"mesh ls: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    return 0


async def _ls_controller(options: argparse.Namespace) -> None:
    """Read the controller's view as an observer: the controller lists, logs and tells nobody about it."""
    from ._observer import watch_controller

    address = _controller_address(options.host, options.port)
    views = watch_controller(
        address,
        mesh_name=mesh_name_or_default(options.mesh),
        secret=resolve_secret(options.secret),
        tls=tls_config(options),
        timeout=options.timeout,
    )
    await _show_members(views, options.watch, f"no nodes have joined the controller at {address}")


async def _ls_discovered(options: argparse.Namespace) -> None:
    """Find the members by mDNS and Hello, without announcing this short-lived observer."""
    from .node._config import NodeConfig
    from .node._node import Node
    from .wire._interfaces import as_tuple

    mesh_name = mesh_name_or_default(options.mesh)
    config = NodeConfig(
        name=f"mesh-ls-{secrets.token_hex(4)}",
        listen="127.0.0.1:0",
        mesh_name=mesh_name,
        discovery=True,
        interfaces=as_tuple(options.interfaces),
        announce=False,
        secret=resolve_secret(options.secret),
        tls=tls_config(options),
    )
    node = Node(config)
    await node.start()
    try:
        await asyncio.sleep(options.wait)
        nothing = f"no nodes of mesh {mesh_name!r} found by discovery within {options.wait:g} s"
        await _show_members(_discovered_views(node), options.watch, nothing)
    finally:
        await node.stop(0.0)


async def _discovered_views(node: Any) -> AsyncIterator[list[dict[str, Any]]]:
    from .node._node import member_list

    while True:
        yield [m for m in member_list(node.membership.members()) if m["node_id"] != node.node_id]
        await asyncio.sleep(0.2)


async def _show_members(views: AsyncIterator[list[dict[str, Any]]], watch: bool, nothing: str) -> None:
    """Print the first view as a table (``nothing`` when it is empty); with ``watch``, every different
    view after it, until interrupted."""
    shown: list[dict[str, Any]] | None = None
    async for current in views:
        if current != shown:
            if shown is not None:
                print()
            print(format_table(current) if current else nothing, flush=True)
            shown = current
        if not watch:
            return


# Longer addresses (UNIX socket paths) are shortened in the middle, so the columns stay aligned.
ADDRESS_WIDTH = 44


def format_table(members: list[dict[str, Any]]) -> str:
    """The members as a table: name, address (shortened in the middle past ``ADDRESS_WIDTH``), callbacks."""
    name_width = max([len(m["name"]) for m in members] + [4])
    addresses = [_shorten(m["address"], ADDRESS_WIDTH) for m in members]
    address_width = max([len(a) for a in addresses] + [7])
    lines = [f"{'NAME':<{name_width}}  {'ADDRESS':<{address_width}}  CALLBACKS"]
    for member, address in zip(members, addresses, strict=True):
        callbacks = ", ".join(member["callbacks"]) or "-"
        lines.append(f"{member['name']:<{name_width}}  {address:<{address_width}}  {callbacks}")
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    tail = width - 3 - (width - 3) // 3
    return f"{text[: width - 3 - tail]}...{text[-tail:]}"


def _add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """--secret and the mutual TLS files, the same for every command that takes part in a mesh."""
    parser.add_argument(
        "--secret",
        help="the mesh secret, proved to every peer and controller and asked of them "
        "(default: $MESH_SECRET, which keeps it out of the process list)",
    )
    parser.add_argument("--tls-cert", help="mutual TLS: this side's certificate (PEM file)")
    parser.add_argument("--tls-key", help="the private key of --tls-cert (PEM file)")
    parser.add_argument("--tls-ca", help="the CA certificate that signs every certificate of the mesh (PEM file)")


def _version() -> str:
    try:
        return version("grpcmesh")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mesh", description="grpcmesh: a peer-to-peer RPC mesh over gRPC")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="start a controller and worker processes and show every modifier")
    demo.set_defaults(run=_cmd_demo)

    ctl = commands.add_parser("controller", help="run a standalone controller until Ctrl-C")
    ctl.add_argument("--host", help="host to listen on (default: a UNIX socket under the temp dir)")
    ctl.add_argument("--port", type=int, help="port to listen on (0: any free port)")
    ctl.add_argument("-v", "--verbose", action="store_true", help="a live log on stderr: joins and leaves")
    ctl.add_argument("--log-json", action="store_true", help="log one JSON object a line")
    _add_security_arguments(ctl)
    ctl.add_argument(
        "--discovery",
        action="store_true",
        help="announce the controller over mDNS; nodes with discovery=True join it "
        "(default address: the one of --interfaces, else 0.0.0.0, which needs a secret)",
    )
    ctl.add_argument("--mesh", help="the mesh name to announce the controller to (with --discovery; default: default)")
    ctl.add_argument("--interfaces", nargs="+", metavar="IP_OR_NAME", help="where to run mDNS (default: all)")
    ctl.set_defaults(run=_cmd_controller)

    ls = commands.add_parser("ls", help="list the members of a mesh: names, addresses, callbacks")
    ls.add_argument("--host", help="the controller's host (default: the UNIX socket under the temp dir)")
    ls.add_argument("--port", type=int, help="the controller's port")
    ls.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the controller")
    _add_security_arguments(ls)
    ls.add_argument("--discovery", action="store_true", help="find the members on the LAN by mDNS, not by a controller")
    ls.add_argument("--mesh", help="the mesh name (implies --discovery unless --host or --port is given)")
    ls.add_argument(
        "--interfaces", nargs="+", metavar="IP_OR_NAME", help="where to run mDNS (implies --discovery; default: all)"
    )
    ls.add_argument("--wait", type=float, default=1.5, help="seconds discovery listens before the first table")
    ls.add_argument("--watch", action="store_true", help="print the table again whenever it changes, until Ctrl-C")
    ls.set_defaults(run=_cmd_ls)

    serve = commands.add_parser(
        "serve", help="run a node that offers a service (storage, kv, events, jobs) until Ctrl-C"
    )
    services = serve.add_subparsers(dest="service", required=True, metavar="SERVICE")
    from .services.events._serve import add_parser as add_events
    from .services.jobs._serve import add_parser as add_jobs
    from .services.kv._serve import add_parser as add_kv
    from .services.storage._serve import add_parser as add_storage

    add_storage(services)
    add_kv(services)
    add_events(services)
    add_jobs(services)

    from ._call_command import add_parser as add_call

    add_call(commands)

    from .pipelines._show import add_parser as add_pipeline

    add_pipeline(commands)

    from ._watch_cli import add_parsers as add_watch

    add_watch(commands)

    # The benchmark's options (its --help too) are left to its own parser (see _parse_args), so that
    # building this parser imports no part of the benchmark.
    bench = commands.add_parser("bench", help="benchmark the mesh against raw gRPC", add_help=False)
    bench.set_defaults(run=_cmd_bench)
    return parser


def _bench_parser() -> argparse.ArgumentParser:
    from .bench.cli import DESCRIPTION, add_arguments

    parser = argparse.ArgumentParser(prog="mesh bench", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(run=_cmd_bench)
    return parser


def _cmd_bench(options: argparse.Namespace) -> int:
    from .bench.cli import run

    return run(options)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options of a ``mesh`` command line; ``mesh bench ...`` gets the benchmark's options."""
    parser = build_parser()
    options, rest = parser.parse_known_args(argv)
    if options.command == "bench":
        return _bench_parser().parse_args(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mesh`` console script."""
    options = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        code: int = options.run(options)
        return code
    return 130


if __name__ == "__main__":
    sys.exit(main())
