"""``Hosting``: what a :class:`~mesh.Global` runs, and its start and its stop.

It owns the loop the node runs on (a loop thread in a sync program, the program's own loop in an
async one), the :class:`~mesh.api._session.Session` its calls are handed, the controller served here and
its mDNS announcement, and the node. It starts them in that order, stops them once (from
:meth:`~mesh.Global.stop`, from the end of an async program's loop, or at the exit of a sync program),
and marks the session stopped however the stop ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import NodeStopped
from ..node._config import NodeConfig
from ..node._loop_thread import AppLoop, LoopThread, Portal
from ..node._member_hooks import MemberHooks
from ..node._node import Node
from ..node._node_callbacks import NodeCallbacks
from ..node._registry import REGISTRY
from ..node._stats import STATS_CALLBACK
from ..wire import _stale_sockets, _transport
from ._session import Session, run_blocking, run_on

if TYPE_CHECKING:
    from ..membership._controller_server import ControllerServer
    from ..membership._placement import Placement
    from ..membership.discovery import MdnsEndpoint


class Hosting:
    """A Global's node and controller on their loop: their start, their stop, and the stop at the end."""

    def __init__(
        self,
        config: NodeConfig,
        placement: Placement,
        *,
        init_controller: bool,
        init_node: bool,
        stop_grace: float,
        owner: Callable[[], Any],
    ) -> None:
        self.config = config
        # The Global that runs this (weakly), and its membership hooks: the node gets both before it starts.
        self.owner = owner
        self.member_hooks = MemberHooks()
        # The controller's address: the one placed, then the one the controller served here listens on.
        self.controller_address = placement.controller
        self._use_controller = placement.use_controller
        self.init_controller = init_controller
        self.init_node = init_node
        self.stop_grace = stop_grace
        # This Global's own callbacks (g.register), over the process's: there before the node starts.
        self.callbacks = NodeCallbacks(REGISTRY)
        self.callbacks.register(STATS_CALLBACK, self._snapshot, inline=True)
        self.controller: ControllerServer | None = None
        self._controller_mdns: MdnsEndpoint | None = None
        self._stopping = False
        self.thread: LoopThread | None = None
        self._start_task: asyncio.Task[None] | None = None

        running = asyncio._get_running_loop()
        if running is not None:
            self.portal: Portal = AppLoop(running)
            self.session = Session(config.name, self.portal, running.create_future(), init_node)
            self._ended: asyncio.Future[None] = running.create_future()
            self._start_task = running.create_task(self._start())
            # A failed start reaches the program through every wait on the node, not through this task.
            self._start_task.add_done_callback(_forget_failure)
            self._end_guard = running.create_task(self._stop_when_program_ends())
        else:
            self.thread = self.portal = LoopThread(f"mesh-{config.name}")
            started = run_blocking(self.portal, _create_future())
            self.session = Session(config.name, self.portal, started, init_node)
            self._ended = run_blocking(self.portal, _create_future())

    def start_in_thread(self) -> None:
        """Start on the loop thread of a sync program and wait until started; a failed start ends the thread."""
        if self.thread is None:
            return
        try:
            run_blocking(self.portal, self._start())
        except BaseException:
            self.close_loop()
            raise

    def close_loop(self) -> None:
        """End the loop thread of a sync program (nothing for an async one)."""
        if self.thread is not None:
            self.thread.stop()

    def stop(self) -> None:
        """Stop from sync code, waiting until stopped, and end the loop thread."""
        if not self.session.stopped.is_set():
            run_blocking(self.portal, self.shutdown())
        self.close_loop()

    async def stop_async(self) -> None:
        """Stop from any event loop, and end the loop thread of a sync program."""
        if not self.session.stopped.is_set():
            await run_on(self.portal, self.shutdown())
        if self.thread is not None and not self.thread.is_current:
            await asyncio.to_thread(self.close_loop)

    async def _start(self) -> None:
        try:
            if self.init_controller:
                from ..membership._controller_server import ControllerServer

                self.controller = ControllerServer(
                    self.controller_address,
                    self.config.max_message_size,
                    secret=self.config.secret,
                    tls=self.config.tls,
                )
                await self.controller.start()
                self.controller_address = self.controller.address
                if self.config.discovery:
                    from ..membership.discovery import announce_controller

                    self._controller_mdns = await announce_controller(
                        self.controller_address, self.config.mesh_name, self.config.interfaces
                    )
            if self.init_node:
                config = self.config
                if self._use_controller:
                    config = dataclasses.replace(config, controller=self.controller_address)
                socket_path = _transport.unix_path(config.listen)
                if socket_path is not None and os.path.dirname(socket_path) == str(_transport.socket_dir()):
                    _stale_sockets.sweep_once(_transport.socket_dir())
                node = Node(config, self.callbacks)
                node.owner = self.owner
                node.member_hooks = self.member_hooks
                node.stats = self.session.stats
                await node.start()
                self.session.node = node
            self.session.started.set_result(self.session.node)
        except BaseException as exc:
            await self._withdraw_controller()
            if self.controller is not None:
                await self.controller.stop()
            self.session.started.set_exception(exc)
            self.session.started.exception()
            self._stopping = True
            self._mark_stopped()
            raise

    def _snapshot(self) -> dict[str, Any]:
        """The answer of this node's ``mesh.stats``: :meth:`Node.snapshot`, with the time it was taken."""
        node = self.session.node
        if node is None:
            raise NodeStopped(f"node {self.config.name!r} has not started")
        return {**node.snapshot(), "time": time.time()}

    async def shutdown(self) -> None:
        """Stop the node, then the controller, once (on the node's loop); later calls wait for that stop."""
        if not self._stopping:
            self._stopping = True
            try:
                if not self.session.started.done() and self._start_task is not None:
                    self._start_task.cancel()
                if self.session.node is not None:
                    await self.session.node.stop(self.stop_grace)
                await self._withdraw_controller()
                if self.controller is not None:
                    await self.controller.stop(0.5)
            finally:
                self._mark_stopped()
        await asyncio.shield(self._ended)

    def _mark_stopped(self) -> None:
        self.session.stopped.set()
        if not self._ended.done():
            self._ended.set_result(None)

    async def _stop_when_program_ends(self) -> None:
        """Stop an async program's node that it did not stop itself, as its event loop ends.

        ``asyncio.run()`` (and ``uvloop.run()``) cancel the tasks still pending once the program's
        coroutine has returned or raised, Ctrl-C included: this task is one of them, and stops the
        node while the loop still runs, so that no gRPC server is left to be collected after the loop
        has closed, and no socket file is left behind.
        """
        try:
            await asyncio.shield(self._ended)
        except asyncio.CancelledError:
            self.stop_grace = min(self.stop_grace, 1.0)
            await self.shutdown()

    async def _withdraw_controller(self) -> None:
        """Say goodbye for the controller on mDNS, if it was announced."""
        mdns, self._controller_mdns = self._controller_mdns, None
        if mdns is not None:
            await mdns.aclose()


async def _create_future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


def _forget_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def stop_at_exit(ref: weakref.ref[Hosting]) -> None:
    """Stop a sync program's node it did not stop; an async one's loop is gone: remove its sockets."""
    hosting = ref()
    if hosting is None or hosting.session.stopped.is_set():
        return
    if hosting.thread is not None:
        hosting.stop_grace = min(hosting.stop_grace, 1.0)
        hosting.stop()
        return
    node, controller = hosting.session.node, hosting.controller
    for address in (node.address if node is not None else "", controller.address if controller is not None else ""):
        _transport.remove_unix_socket(address)
