"""Stopping a gRPC server, even at the end of ``asyncio.run()``, and removing its socket file.

When an async program ends without stopping its node, ``asyncio.run()`` cancels every task still
pending, gRPC's own serving task among them, and only then does the node's stop run (see
``Global._stop_when_program_ends``). ``grpc.aio.Server.stop()`` then raises the serving task's
``CancelledError`` half-way, and a server left half-stopped is collected after the loop closed
(``Exception ignored in: Server.__del__ ... Event loop is closed``). A second ``stop(None)`` finishes
it: the shutdown has begun, and what is left (cancelling the calls, waiting for gRPC's shutdown
notice, destroying the server) does not need the serving task.
"""

from __future__ import annotations

import asyncio

import grpc

from . import _transport


async def close_server(server: grpc.aio.Server, grace: float | None, address: str) -> None:
    """Stop ``server`` within ``grace`` seconds (None: at once) and remove the UNIX socket of ``address``.

    Raises:
        asyncio.CancelledError: the calling task was cancelled; the stop goes on in the background.
    """
    stopping = asyncio.ensure_future(server.stop(grace))
    try:
        await asyncio.shield(stopping)
    except asyncio.CancelledError:
        if not stopping.done():
            raise
        # The serving task was cancelled under the stop, not this task.
        await server.stop(None)
    finally:
        _transport.remove_unix_socket(address)
