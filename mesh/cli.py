"""The ``mesh`` command: ``mesh demo``, ``mesh controller``, ``mesh ls``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from ._transport import default_controller_address, tcp_address


def _controller_address(host: str | None, port: int | None) -> str:
    if host is None and port is None:
        return default_controller_address()
    return tcp_address(host or "localhost", port or 0)


async def serve_controller(address: str) -> None:
    """Serve a standalone controller on ``address`` until SIGINT or SIGTERM."""
    from controller import ControllerServer

    server = ControllerServer(address)
    await server.start()
    print(f"controller listening on {server.address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop(1.0)


def _cmd_controller(options: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if options.verbose else logging.WARNING, format="%(asctime)s %(message)s")
    asyncio.run(serve_controller(_controller_address(options.host, options.port)))
    return 0


def _cmd_demo(options: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main()


def _cmd_ls(options: argparse.Namespace) -> int:
    from . import Global

    with Global(process_name=None, host=options.host, port=options.port, connect_timeout=options.timeout) as g:
        members = [m for m in g.members() if m["name"] != g.process_name]
    width = max([len(m["name"]) for m in members] + [4])
    print(f"{'NAME':<{width}}  {'ADDRESS':<28}  CALLBACKS")
    for member in members:
        print(f"{member['name']:<{width}}  {member['address']:<28}  {', '.join(member['callbacks']) or '-'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mesh", description="grpcmesh: a peer-to-peer RPC mesh over gRPC")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="start a controller and worker processes and show every modifier")
    demo.set_defaults(run=_cmd_demo)

    ctl = commands.add_parser("controller", help="run a standalone controller until Ctrl-C")
    ctl.add_argument("--host", help="host to listen on (default: a UNIX socket under the temp dir)")
    ctl.add_argument("--port", type=int, help="port to listen on (0: any free port)")
    ctl.add_argument("-v", "--verbose", action="store_true", help="log joins and leaves")
    ctl.set_defaults(run=_cmd_controller)

    ls = commands.add_parser("ls", help="list the members of a mesh: names, addresses, callbacks")
    ls.add_argument("--host", help="the controller's host (default: the UNIX socket under the temp dir)")
    ls.add_argument("--port", type=int, help="the controller's port")
    ls.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the controller")
    ls.set_defaults(run=_cmd_ls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mesh`` console script."""
    options = build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        code: int = options.run(options)
        return code
    return 130


if __name__ == "__main__":
    sys.exit(main())
