"""Starting and stopping a gRPC server so that the end of ``asyncio.run()`` cannot corrupt memory.

When an async program ends without stopping its node (its coroutine returns or raises, or Ctrl-C),
``asyncio.run()`` cancels every task still pending, and only then does the node's stop run (see
``Global._stop_when_program_ends``). gRPC's serving tasks must not be among them: cancelled while
they wait for the next call, they drop the state of the call request that gRPC's core still holds and
writes into when the server shuts down, and that write lands in whatever Python allocated there
next (the program then segfaults in a coroutine of its own). :func:`start_server` keeps the serving
tasks out of the tasks asyncio cancels; :func:`close_server` ends them the way gRPC expects, by
shutting the server down.
"""

from __future__ import annotations

import asyncio

import grpc

from . import _transport

# The class whose coroutines gRPC's serving tasks run (grpc._cython.cygrpc.AioServer).
GRPC_SERVER = "AioServer."


async def start_server(server: grpc.aio.Server) -> None:
    """Start ``server``, keeping gRPC's serving tasks out of the tasks ``asyncio.run()`` cancels at its end."""
    before = asyncio.all_tasks()
    await server.start()
    for task in asyncio.all_tasks() - before:
        if getattr(task.get_coro(), "__qualname__", "").startswith(GRPC_SERVER):
            asyncio.tasks._unregister_task(task)


async def close_server(server: grpc.aio.Server, grace: float | None, address: str) -> None:
    """Stop ``server`` within ``grace`` seconds (None: at once) and remove the UNIX socket of ``address``.

    Raises:
        asyncio.CancelledError: the calling task was cancelled; the stop goes on in the background.
    """
    try:
        await asyncio.shield(asyncio.ensure_future(server.stop(grace)))
    finally:
        _transport.remove_unix_socket(address)
