"""What the calls of a :class:`~mesh.Global` need of it: its node's loop, the node once ready, its name.

The call API (:mod:`mesh.api._call`) is handed a :class:`Session`, never the ``Global``; the ``Global``'s
:class:`~mesh.api._hosting.Hosting` owns it and sets :attr:`Session.node` once its node has started.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..errors import CallCancelled, NodeStopped, UsageError
from ..node._handoff import running_loop
from ..node._loop_thread import Portal
from ..node._node import Node
from ..node._reply import ReplyFuture
from ..node._stats import NodeStats

_CONTROLLER_ONLY = "this Global runs only a controller (init_node=False): it cannot make calls"


def in_async_code() -> bool:
    """True when this thread runs an event loop, so waiting must be done with ``await``."""
    return running_loop() is not None


def run_blocking(portal: Portal, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on the node's loop from another thread and wait for its value."""
    future = portal.submit(coro)
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        raise CallCancelled("the call was cancelled") from None
    except BaseException:
        future.cancel()
        raise


async def run_on(portal: Portal, coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro`` on the node's loop from whatever loop runs the caller."""
    if running_loop() is portal.loop:
        return await coro
    return await asyncio.wrap_future(portal.submit(coro))


class Session:
    """A Global's node as its calls see it: the loop it runs on (:attr:`portal`), the node once it has
    started (:attr:`node`), whether it stopped, and the process name."""

    __slots__ = ("loop", "name", "node", "portal", "runs_node", "started", "stats", "stopped")

    def __init__(self, name: str, portal: Portal, started: asyncio.Future[Node | None], runs_node: bool) -> None:
        self.name = name
        self.portal = portal
        self.loop = portal.loop
        # Set on the node's loop with the node (None: only a controller runs), or the start's error.
        self.started = started
        self.stopped = threading.Event()
        self.node: Node | None = None
        self.runs_node = runs_node
        # The node's statistics, there before the node: the calls made count in from the first.
        self.stats = NodeStats()

    def ready_node(self) -> Node | None:
        """The node, or None while it starts. Any thread.

        Raises:
            NodeStopped: the node is stopped.
            UsageError: only a controller runs here.
        """
        node = self.node
        if node is None:
            if self.stopped.is_set():
                raise NodeStopped(f"node {self.name!r} is stopped")
            if self.started.done() and not self.runs_node:
                raise UsageError(_CONTROLLER_ONLY)
        elif node.stopping:
            raise NodeStopped(f"node {self.name!r} is stopped; no more calls can be made through it")
        return node

    async def started_node(self) -> Node:
        """The node, once it has started (on the node's loop)."""
        node = await asyncio.shield(self.started)
        if node is None:
            raise UsageError(_CONTROLLER_ONLY)
        return node

    def wait_node(self) -> Node:
        """The node, once it has started, waited for in this thread."""
        node = self.ready_node()
        return node if node is not None else run_blocking(self.portal, self.started_node())

    async def wait_node_async(self) -> Node:
        """The node, once it has started, awaited on any loop."""
        node = self.ready_node()
        return node if node is not None else await run_on(self.portal, self.started_node())

    def wait(self, until: Callable[[Node], Awaitable[None]], timeout: float | None, what: str) -> Any:
        """Wait up to ``timeout`` seconds until ``until(node)`` ends on the node's loop: in this thread, or
        awaitable in async code.

        Raises:
            CallTimeout: ``what`` did not happen within ``timeout`` seconds.
        """
        self.ready_node()
        if in_async_code():
            return self._wait_async(until, timeout, what)
        return self._start_wait(until, what).outcome(timeout, what)

    async def _wait_async(self, until: Callable[[Node], Awaitable[None]], timeout: float | None, what: str) -> Any:
        return await self._start_wait(until, what).outcome_async(timeout, what)

    def _start_wait(self, until: Callable[[Node], Awaitable[None]], what: str) -> ReplyFuture:
        reply = ReplyFuture(self.loop, what, None)
        self.portal.submit(reply.settle(self._then(until)))
        return reply

    async def _then(self, until: Callable[[Node], Awaitable[None]]) -> None:
        await until(await self.started_node())
