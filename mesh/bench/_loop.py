"""One event loop for every coroutine the benchmark process runs itself, kept open to the end.

gRPC's completion poller is shared by every event loop of a process and hands each completion to
the loop that started the operation. ``asyncio.run`` closes its loop on return, and an operation
that completes just after (the final status of a stream whose channel was closed, say) is then
handed to a closed loop: ``RuntimeError: Event loop is closed`` from
``PollerCompletionQueue._handle_events``, printed by whichever loop reads the poller next. Running
the raw baseline and the async rows on one loop that stays open avoids it.

The loop is of the kind the mesh makes for its nodes (uvloop when installed, see
``mesh.node._event_loop``), so the baseline and the mesh run on the same kind of loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from mesh.node._event_loop import new_event_loop

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None


def get() -> asyncio.AbstractEventLoop:
    """The process's benchmark loop (made on first use). Only one thread may run it at a time."""
    global _loop
    if _loop is None:
        _loop = new_event_loop()
    return _loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the process's benchmark loop, in this thread."""
    return get().run_until_complete(coro)
