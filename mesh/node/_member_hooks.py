"""The functions a program asks to be called when another node joins or leaves this node's view.

``g.on_node_join(fn)`` and ``g.on_node_leave(fn)`` put them here. Each is called with the member's
name (a ``str``), from the node's loop: an async function as a task of its own, a sync one in the
node's worker threads, so that neither holds up the loop. An exception is logged, never raised.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import UsageError

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

    from ._workers import WorkerPool

logger = logging.getLogger("mesh")

MemberHook = Callable[[str], Any]


class MemberHooks:
    """The join and leave functions of one node; added from any thread, called on the node's loop."""

    __slots__ = ("join", "leave")

    def __init__(self) -> None:
        self.join: list[MemberHook] = []
        self.leave: list[MemberHook] = []

    def add(self, hooks: list[MemberHook], fn: MemberHook, what: str) -> MemberHook:
        """Add ``fn`` to ``hooks`` (``what`` names the method in errors) and return it, as a decorator does.

        Raises:
            UsageError: ``fn`` is not callable.
        """
        if not callable(fn):
            raise UsageError(f"{what} takes a function of the member's name, not {fn!r}")
        hooks.append(fn)
        return fn

    def fire(self, hooks: list[MemberHook], name: str, host: HookRunner) -> None:
        """Call each of ``hooks`` with ``name``. On the node's loop."""
        for fn in list(hooks):
            if inspect.iscoroutinefunction(fn):
                host.spawn(_logged_async(fn, name))
            else:
                host.workers.submit(fn, name).add_done_callback(_log_failure(fn, name))


class HookRunner(Protocol):
    """What the hooks need of the node: a task of its own for an async hook, the workers for a sync one."""

    workers: WorkerPool

    def spawn(self, coro: Any) -> asyncio.Task[Any]: ...


async def _logged_async(fn: MemberHook, name: str) -> None:
    try:
        await fn(name)
    except Exception:
        logger.exception("membership hook %r failed for node %r", fn, name)


def _log_failure(fn: MemberHook, name: str) -> Callable[[concurrent.futures.Future[Any]], None]:
    def done(future: concurrent.futures.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.error("membership hook %r failed for node %r", fn, name, exc_info=future.exception())

    return done
