"""Starting a flow's tasks in the background of the caller's event loop (asyncio or trio)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from mesh import UsageError

_running: set[asyncio.Task[None]] = set()


def on_asyncio() -> bool:
    """Whether the caller runs on an asyncio loop (the loop the mesh's calls need)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def spawn(fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run ``fn(*args)`` as a task of its own on the caller's loop; it outlives the caller's call,
    so ``fn`` must catch its own errors (a flow routes them into its streams)."""
    if on_asyncio():

        async def run() -> None:
            await fn(*args)

        task = asyncio.get_running_loop().create_task(run())
        _running.add(task)
        task.add_done_callback(_running.discard)
        return
    trio: Any = sys.modules.get("trio")
    if trio is None:
        raise UsageError("start_flow runs in async code, on asyncio or trio (anyio.run)")
    trio.lowlevel.spawn_system_task(fn, *args)
