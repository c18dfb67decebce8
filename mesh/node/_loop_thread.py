"""The event loop thread of a sync program's node, and why its loop is parked instead of closed.

gRPC's asyncio completion queue is shared by every loop of the process. A completion that belongs to
one loop can be read by another, which hands it over with ``call_soon_threadsafe``; the last
operations of a stream that a stopping node cancelled can complete just after its loop ended. Had
that loop been closed, the handover raises ``RuntimeError: Event loop is closed``, logged on the
other, healthy loop. So a loop whose thread ends is parked, open, and the next sync node of the
process runs on it: the process keeps at most as many loops as it ever ran at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any

from ..errors import NodeStopped
from ._event_loop import LoopKind, new_event_loop, selected_kind

logger = logging.getLogger("mesh")

# How long the end of a loop thread waits for the tasks it cancels to finish.
LEFTOVER_WAIT = 5.0

# Parked loops by the kind asked for when each was made (a policy of the program's may have made
# another), so a node that asks for one kind never takes the other.
_parked: dict[LoopKind, list[asyncio.AbstractEventLoop]] = {"uvloop": [], "asyncio": []}
_parked_lock = threading.Lock()


def _forget_parked_loops() -> None:
    # A forked child shares its parent's selectors and gRPC state: it must not run the parent's loops.
    # The lock is made anew too: a thread of the parent may have held it at the fork.
    global _parked_lock
    _parked_lock = threading.Lock()
    for loops in _parked.values():
        loops.clear()


os.register_at_fork(after_in_child=_forget_parked_loops)


def parked_loops() -> int:
    """How many loops wait, parked, for the next sync node of this process."""
    return sum(len(loops) for loops in _parked.values())


def _take_loop(kind: LoopKind) -> asyncio.AbstractEventLoop:
    with _parked_lock:
        if _parked[kind]:
            return _parked[kind].pop()
    return new_event_loop(kind)


def _park(kind: LoopKind, loop: asyncio.AbstractEventLoop) -> None:
    with _parked_lock:
        _parked[kind].append(loop)


class LoopThread:
    """A daemon thread named ``name`` that runs an event loop until :meth:`stop`.

    The loop is of the kind ``$MESH_UVLOOP`` selects (see ``_event_loop``), a parked one when there
    is one. When the thread ends, the tasks still on the loop are cancelled and awaited (as
    ``asyncio.run`` does), and the loop is parked for the next node that asks for its kind.
    """

    def __init__(self, name: str) -> None:
        self._kind = selected_kind()
        self.loop = _take_loop(self._kind)
        self._name = name
        # Held while a coroutine is submitted, and while the run is declared over: nothing submitted
        # to this run can land on the loop once it is parked.
        self._submit_lock = threading.Lock()
        self._ended = False
        # Set by stop(). This run's own future: a late stop can never end a later run on the same loop.
        self._until_stopped: asyncio.Future[None] = self.loop.create_future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._until_stopped)
        finally:
            with self._submit_lock:
                self._ended = True
            # Coroutines submitted just before are queued callbacks: one pass makes them tasks, which
            # end, cancelled, with the rest.
            loop.run_until_complete(asyncio.sleep(0))
            _finish_leftover_tasks(loop)
            asyncio.set_event_loop(None)
            _park(self._kind, loop)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """``asyncio.run_coroutine_threadsafe`` on this run of the loop.

        Raises:
            NodeStopped: the run has ended.
        """
        with self._submit_lock:
            if not self._ended:
                return asyncio.run_coroutine_threadsafe(coro, self.loop)
        coro.close()
        raise NodeStopped(f"the event loop thread {self._name!r} has ended; its node is stopped")

    def _end_run(self) -> None:
        if not self._until_stopped.done():
            self._until_stopped.set_result(None)

    @property
    def is_current(self) -> bool:
        """Whether the calling thread is this loop thread."""
        return threading.current_thread() is self._thread

    def is_alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float = LEFTOVER_WAIT + 1.0) -> None:
        """End the loop's run; from another thread, wait up to ``timeout`` seconds for the thread to end."""
        if not self._thread.is_alive():
            return
        self.loop.call_soon_threadsafe(self._end_run)
        if not self.is_current:
            self._thread.join(timeout)


def _finish_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    _, stuck = loop.run_until_complete(asyncio.wait(tasks, timeout=LEFTOVER_WAIT))
    for task in tasks - stuck:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {"message": "a task of a stopped node failed", "exception": task.exception(), "task": task}
            )
    if stuck:
        # They stay on the parked loop, and go on when the next node runs on it.
        logger.warning(
            "mesh: %d task(s) of a stopped node did not end within %s s of being cancelled: %r",
            len(stuck),
            LEFTOVER_WAIT,
            sorted(stuck, key=id)[:3],
        )


class AppLoop:
    """The running loop of an async program, on which its node runs; submits like :class:`LoopThread`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """``asyncio.run_coroutine_threadsafe`` on the loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


# Where a Global submits coroutines to its node's loop.
Portal = LoopThread | AppLoop
