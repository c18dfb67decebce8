"""Serving calls: a :class:`~mesh.node._node.Node` runs the callbacks its peers and its own callers ask for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from ..errors import BadArguments, MeshError
from ..wire import _tracing
from ..wire._codec import Encoded, encode
from ..wire._frames import Buffers
from ..wire._link import PeerLink
from ..wire._outcome import error_reply
from ..wire._proto import mesh_pb2 as pb
from ._flow import DEFAULT_WINDOW, DEFAULT_WINDOW_BYTES
from ._handoff import Handoff
from ._inject import with_global
from ._offers import Offers
from ._registry import CallbackRegistry, LocalCallback
from ._schedule import Schedule
from ._serve import (
    IncomingCall,
    Outcome,
    decode_arguments,
    log_no_return_failure,
    outcome_of,
    serve_async,
    serve_stream_async,
    serving,
)
from ._stats import LOCAL, NodeStats
from ._streams import LinkOutlet, argument_inlets, local_arguments
from ._workers import Job, WorkerPool

if TYPE_CHECKING:
    from ..membership._membership import Member, Membership
    from ._config import NodeConfig

logger = logging.getLogger("mesh")

ANSWER_REDIAL_AFTER = 10.0
"""Seconds before a node dials again, for answers, a caller it could not reach (see ``FG(answer=...)``)."""


class Serving:
    """The serving part of a node (a mixin of :class:`~mesh.node._node.Node`): it runs callbacks here, for its peers
    and for the node itself. On the node's loop."""

    name: str
    config: NodeConfig
    loop: asyncio.AbstractEventLoop
    registry: CallbackRegistry
    handoff: Handoff
    offers: Offers
    stopping: bool
    workers: WorkerPool
    local_calls: int
    stats: NodeStats
    owner: Callable[[], Any]
    node_id: str
    links: dict[str, PeerLink]
    membership: Membership
    _dials: dict[str, asyncio.Task[PeerLink]]
    # When each caller this node could not reach for answers may be dialled again (perf_counter).
    answer_dial_failed: dict[str, float]

    if TYPE_CHECKING:

        def cancel_schedule(self, link: PeerLink | None, key: int) -> None: ...

        def spawn(self, coro: Any) -> asyncio.Task[Any]: ...

        async def link_to(self, member: Member) -> PeerLink: ...

    def _local(self, name: str) -> LocalCallback:
        callback = self.registry.get(name)
        if callback is None:
            raise self.offers.unknown(name, f"node {self.name!r} no longer offers it")
        return callback

    async def _run_local(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        callback = self._local(name)
        args, kwargs, arg_outlets = local_arguments(args, kwargs, self.loop)
        self.local_calls += 1
        started = perf_counter()
        ok = False
        try:
            value = await self.run_callback(callback, args, kwargs)
            ok = True
            return value
        except TypeError as exc:
            problem = callback.arguments_error(args, kwargs)
            if problem is not None:
                raise BadArguments(problem) from exc
            raise
        finally:
            self.stats.served(name, LOCAL, ok, perf_counter() - started)
            self.local_calls -= 1
            for outlet in arg_outlets:
                outlet.close()

    def run_callback(
        self, callback: LocalCallback, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[Any]:
        """Start ``callback`` (async on the loop, sync in a worker thread); the future has its value."""
        if callback.global_param is not None:
            kwargs = with_global(kwargs, callback.global_param, self.owner)
        if callback.is_async:
            return self.loop.create_task(callback.fn(*args, **kwargs))
        return self.loop.run_in_executor(self.workers, lambda: callback.fn(*args, **kwargs))

    def on_call(self, link: PeerLink, call_id: int, call: pb.Call, buffers: Buffers) -> None:
        """Serve call ``call_id`` that ``link``'s peer sent (``buffers``: its out-of-band blobs). On the loop.

        A stopping node and an unknown callback get an error reply (a NO_RETURN call: a log line); a
        PERIOD call starts a :class:`Schedule`; an inline sync callback runs here, an async one as a
        task, a sync one in a worker thread. The outcome goes back through :meth:`reply`.
        """
        flags = call.flags
        no_return = bool(flags & pb.CALL_FLAG_NO_RETURN)
        if self.stopping:
            if not no_return:
                link.send_error(call_id, error_reply(pb.ERROR_KIND_STOPPING, f"node {self.name!r} is stopping"))
            return
        # Each read of a string field builds a new str: read the name once.
        name = call.name
        callback = self.registry.get(name)
        if callback is None:
            if no_return:
                logger.warning("node %s: %s called unknown callback %r", self.name, link.peer_name, name)
            else:
                link.send_error(call_id, error_reply(pb.ERROR_KIND_UNKNOWN_CALLBACK, name))
            return
        # The arguments as plain bytes: no job or task keeps the received message alive.
        incoming = IncomingCall(
            self,
            link,
            call_id,
            callback,
            call.args,
            bool(flags & pb.CALL_FLAG_DILL),
            buffers,
            None if no_return else self.config.max_message_size,
        )
        if flags & pb.CALL_FLAG_ANSWER:
            incoming.answer = (call.answer_node, call.answer_call)
        if _tracing.tracer is not None and call.traceparent and not call.HasField("schedule"):
            incoming.trace = _tracing.ServerTrace(name, call, link.peer_name)
        if flags & pb.CALL_FLAG_STREAM or call.streamed_args:
            self._serve_streams(incoming, call)
        elif call.HasField("schedule"):
            self._start_schedule(incoming, call.schedule)
        elif callback.inline and not callback.is_async:
            self._send_outcome(incoming, incoming.serve_here())
        elif callback.is_async:
            task = self.loop.create_task(serving(incoming, serve_async))
            link.incoming[call_id] = task
            task.add_done_callback(incoming.task_done)
        elif no_return:
            # Nothing goes back to the loop (a failure is logged by the worker); stop() waits for the pool.
            self.workers.start_job(incoming)
        else:
            link.incoming[call_id] = self.workers.start_job(incoming)

    def _serve_streams(self, incoming: IncomingCall, call: pb.Call) -> None:
        """Serve a call with streams: a STREAM call's results (its outlet gets the caller's credit),
        and the streamed arguments of any call (their inlets get the items). An async callback or
        async generator runs as a task, a sync one in a worker thread (inline or not: it may block)."""
        link, call_id, callback = incoming.link, incoming.call_id, incoming.callback
        if call.streamed_args:
            incoming.inlets = argument_inlets(self.handoff, link, call_id, call.streamed_args, callback.name)
            link.arg_inlets[call_id] = list(incoming.inlets)
        if call.flags & pb.CALL_FLAG_STREAM:
            window = (call.window or DEFAULT_WINDOW, call.window_bytes or DEFAULT_WINDOW_BYTES)
            incoming.outlet = LinkOutlet(self.handoff, link, call_id, 0, callback.name, window)
            link.result_outlets[call_id] = incoming.outlet
            if callback.is_async or callback.yields_async:
                task = self.loop.create_task(serving(incoming, serve_stream_async))
                link.incoming[call_id] = task
                task.add_done_callback(incoming.task_done)
            else:
                link.incoming[call_id] = self.workers.start_job(incoming)
        elif callback.is_async:
            task = self.loop.create_task(serving(incoming, serve_async))
            link.incoming[call_id] = task
            task.add_done_callback(incoming.task_done)
        else:
            link.incoming[call_id] = self.workers.start_job(incoming)

    def reply(self, call: IncomingCall, done: asyncio.Future[Any] | Job) -> None:
        """Answer ``call`` with the outcome of ``done``, the task or worker job that served it, once it
        is done. On the loop."""
        call.link.incoming.pop(call.call_id, None)
        if call.outlet is not None or call.inlets is not None:
            call.link.end_callee_streams(call.call_id)
        if done.cancelled():
            # Stopped by its caller (a timeout, a cancel): nothing goes back, and it did not serve well.
            call.count(False)
            return
        self._send_outcome(call, outcome_of(done))

    def _send_outcome(self, call: IncomingCall, outcome: Outcome) -> None:
        """Send ``outcome`` (an encoded result or an error) of ``call`` to its peer.

        A NO_RETURN call sends nothing and logs its failure (None: a NO_RETURN call that served well).
        """
        if outcome is None:
            call.count(True)
            return
        call.count(isinstance(outcome, Encoded))
        # An Encoded is checked for first: isinstance against a protobuf message class is slow.
        if isinstance(outcome, Encoded):
            if call.max_size is not None:
                if call.answer is not None:
                    self._answer_caller(call.answer, call.link.peer_id, outcome)
                call.link.send_result(call.call_id, outcome, call.callback.name)
        elif call.max_size is None:
            log_no_return_failure(self.name, call.link, outcome)
        else:
            call.link.send_error(call.call_id, outcome, call.callback.name)

    def _answer_caller(self, answer: tuple[str, int], via: str, result: Encoded) -> None:
        """Send ``result``, of a call from node ``via``, to the node that ``answer`` names too, as the
        answer of its call to ``via`` (``FG(answer=...)``). With no live link to that node, link to it
        for the next time: ``via`` answers this call anyway."""
        node_id, call_id = answer
        link = self.links.get(node_id)
        if link is not None and not link.closed:
            link.send_answer(call_id, via, result)
            return
        member = self.membership.get(node_id)
        if member is None or node_id == self.node_id or self.stopping or node_id in self._dials:
            return
        if perf_counter() >= self.answer_dial_failed.get(node_id, 0.0):
            self.spawn(self._link_for_answers(member))

    async def _link_for_answers(self, member: Member) -> None:
        """Link to ``member`` for the answers of later calls; after a failure, not again for
        :data:`ANSWER_REDIAL_AFTER` seconds (each answer would try once more)."""
        try:
            await self.link_to(member)
        except MeshError:
            self.answer_dial_failed[member.node_id] = perf_counter() + ANSWER_REDIAL_AFTER
        else:
            self.answer_dial_failed.pop(member.node_id, None)

    def _start_schedule(self, call: IncomingCall, plan: pb.Schedule) -> None:
        link = call.link
        arguments = decode_arguments(call)
        if not isinstance(arguments, tuple):
            link.send_error(call.call_id, arguments)
            return
        args, kwargs = arguments
        problem = call.callback.arguments_error(args, kwargs)
        if problem is not None:
            link.send_error(call.call_id, error_reply(pb.ERROR_KIND_BAD_ARGUMENTS, problem))
            return
        schedule = Schedule(self, call.callback, args, kwargs, plan, link=link, key=call.call_id)
        schedule.start()
        link.send_result(call.call_id, encode(None, self.config.max_message_size, "schedule acknowledgement"))

    def on_cancel(self, link: PeerLink, call_id: int) -> None:
        schedule = link.schedules.pop(call_id, None)
        if schedule is not None:
            schedule.cancel()
        task = link.incoming.pop(call_id, None)
        if task is not None:
            task.cancel()
        link.end_callee_streams(call_id)
