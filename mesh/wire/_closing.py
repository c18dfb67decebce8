"""Keeping the end of ``asyncio.run()`` from cancelling what holds a gRPC operation, and stopping servers.

When an async program ends without stopping its node (its coroutine returns or raises, or Ctrl-C),
``asyncio.run()`` cancels every task still pending, and only then does the node's stop run (see
``Hosting._stop_when_program_ends``). No task that holds a gRPC operation may be among them: gRPC's
serving tasks (cancelled while they wait for the next call, they drop the state of the call request
that gRPC's core still holds), RPC handlers, links' readers and writers, dials. gRPC's core later
writes into the freed state, and that write lands in whatever Python allocated there next (a
segfault, or a live object's attributes gone). :func:`start_server`, :func:`accept_rpc` and
:func:`keep_from_program_end` keep those tasks out of the ones asyncio cancels; the node's stop ends
them in order, and :func:`close_server` ends the serving tasks the way gRPC expects, by shutting the
server down.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from . import _transport

# The class whose coroutines gRPC's serving tasks run (grpc._cython.cygrpc.AioServer).
GRPC_SERVER = "AioServer."


async def start_server(server: grpc.aio.Server) -> None:
    """Start ``server``, keeping gRPC's serving tasks out of the tasks ``asyncio.run()`` cancels at its end."""
    await server.start()
    keep_server_tasks()


def keep_server_tasks() -> None:
    """Keep gRPC's serving tasks out of the tasks ``asyncio.run()`` cancels at its end: those of a server
    just started, and the one that waits for the next call, made anew for every call accepted."""
    for task in asyncio.all_tasks():
        if getattr(task.get_coro(), "__qualname__", "").startswith(GRPC_SERVER):
            keep_from_program_end(task)


def accept_rpc() -> None:
    """At the start of an RPC handler: keep its task, and the serving task that waits for the next
    call, out of the tasks ``asyncio.run()`` cancels at its end; the server's stop ends them."""
    keep_from_program_end()
    keep_server_tasks()


def keep_from_program_end(task: asyncio.Task[Any] | None = None) -> None:
    """Keep ``task`` (by default the current one, such as the task gRPC runs an RPC's handler in) out
    of the tasks ``asyncio.run()`` cancels at its end: the node ends it when it stops, in order."""
    task = task or asyncio.current_task()
    if task is not None:
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
