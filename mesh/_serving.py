"""Serving calls: a :class:`~mesh._node.Node` runs the callbacks its peers and its own callers ask for."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ._codec import Encoded, decode_args, encode
from ._handoff import Handoff
from ._link import PeerLink
from ._offers import Offers
from ._outcome import error_reply, exception_reply
from ._proto import mesh_pb2 as pb
from ._registry import CallbackRegistry, LocalCallback
from ._schedule import Schedule
from ._serve import serve_async, serve_sync
from ._wire import Buffers
from ._workers import Job, WorkerPool
from .errors import BadArguments, NodeStopped, SerializationError

if TYPE_CHECKING:
    from ._config import NodeConfig

logger = logging.getLogger("mesh")


class Serving:
    """The serving part of a node (a mixin of :class:`~mesh._node.Node`): it runs callbacks here, for its peers
    and for the node itself. On the node's loop."""

    name: str
    config: NodeConfig
    loop: asyncio.AbstractEventLoop
    registry: CallbackRegistry
    handoff: Handoff
    offers: Offers
    stopping: bool
    _workers: WorkerPool

    if TYPE_CHECKING:

        def cancel_schedule(self, link: PeerLink | None, key: int) -> None: ...

    def _local(self, name: str) -> LocalCallback:
        callback = self.registry.get(name)
        if callback is None:
            raise self.offers.unknown(name, f"node {self.name!r} no longer offers it")
        return callback

    async def _run_local(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        callback = self._local(name)
        try:
            return await self.run_callback(callback, args, kwargs)
        except TypeError as exc:
            problem = callback.arguments_error(args, kwargs)
            if problem is not None:
                raise BadArguments(problem) from exc
            raise

    def run_callback(
        self, callback: LocalCallback, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[Any]:
        """Start ``callback`` (async on the loop, sync in a worker thread); the future has its value."""
        if callback.is_async:
            return self.loop.create_task(callback.fn(*args, **kwargs))
        return self.loop.run_in_executor(self._workers, lambda: callback.fn(*args, **kwargs))

    def on_call(self, link: PeerLink, call_id: int, call: pb.Call, buffers: Buffers) -> None:
        """Serve call ``call_id`` that ``link``'s peer sent (``buffers``: its out-of-band blobs). On the loop.

        A stopping node and an unknown callback get an error reply (a NO_RETURN call: a log line); a
        PERIOD call starts a :class:`Schedule`; an inline sync callback runs here, an async one as a
        task, a sync one in a worker thread. The outcome goes back through :meth:`_send_outcome`.
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
        data, dill = call.args, bool(flags & pb.CALL_FLAG_DILL)
        if call.HasField("schedule"):
            self._start_schedule(link, call_id, callback, data, dill, buffers, call.schedule)
            return
        max_size = None if no_return else self.config.max_message_size
        if callback.inline and not callback.is_async:
            self._send_outcome(link, call_id, name, no_return, serve_sync(callback, data, dill, buffers, max_size))
        elif callback.is_async:
            task = self.loop.create_task(serve_async(callback, data, dill, buffers, max_size))
            link.incoming[call_id] = task
            task.add_done_callback(lambda done: self._reply(link, call_id, name, no_return, done))
        elif no_return:
            # Nothing goes back to the loop (a failure is logged by the worker); stop() waits for the pool.
            self._workers.start_job(_SyncServing(self, link, call_id, callback, data, dill, buffers, None))
        else:
            link.incoming[call_id] = self._workers.start_job(
                _SyncServing(self, link, call_id, callback, data, dill, buffers, max_size)
            )

    def _reply(
        self,
        link: PeerLink,
        call_id: int,
        name: str,
        no_return: bool,
        done: asyncio.Future[Any] | Job,
    ) -> None:
        """Answer call ``call_id`` of ``link`` with the outcome of ``done``, the task or worker job that
        served it, once it is done. On the loop."""
        link.incoming.pop(call_id, None)
        self._send_outcome(link, call_id, name, no_return, _outcome_of(done))

    def _send_outcome(
        self, link: PeerLink, call_id: int, name: str, no_return: bool, outcome: Encoded | pb.Error | None
    ) -> None:
        """Send ``outcome`` (an encoded result or an error) of call ``call_id`` of ``name`` to ``link``'s peer.

        A NO_RETURN call sends nothing and logs its failure (None: a NO_RETURN call that served well).
        An outcome larger than the peer takes is replaced by an error that says so.
        """
        if no_return or outcome is None:
            if isinstance(outcome, pb.Error):
                _log_no_return_failure(self.name, link, outcome)
            return
        if isinstance(outcome, pb.Error):
            too_large = link.too_large("exception", name, outcome.ByteSize())
        else:
            too_large = link.too_large("result", name, outcome.size)
        if too_large is not None:
            outcome = exception_reply(too_large)
        if isinstance(outcome, pb.Error):
            link.send_error(call_id, outcome)
        else:
            link.send_result(call_id, outcome)

    def _start_schedule(
        self,
        link: PeerLink,
        call_id: int,
        callback: LocalCallback,
        data: bytes,
        dill: bool,
        buffers: Buffers,
        plan: pb.Schedule,
    ) -> None:
        try:
            args, kwargs = decode_args(data, buffers, dill, callback.name)
        except SerializationError as exc:
            link.send_error(call_id, exception_reply(exc))
            return
        problem = callback.arguments_error(args, kwargs)
        if problem is not None:
            link.send_error(call_id, error_reply(pb.ERROR_KIND_BAD_ARGUMENTS, problem))
            return
        schedule = Schedule(self, callback, args, kwargs, plan, link=link, key=call_id)
        schedule.start()
        link.send_result(call_id, encode(None, self.config.max_message_size, "schedule acknowledgement"))

    def on_cancel(self, link: PeerLink, call_id: int) -> None:
        schedule = link.schedules.pop(call_id, None)
        if schedule is not None:
            schedule.cancel()
        task = link.incoming.pop(call_id, None)
        if task is not None:
            task.cancel()


def _outcome_of(done: asyncio.Future[Any] | Job) -> Encoded | pb.Error | None:
    """What a finished serving job has to send: its encoded result or error reply; None if cancelled."""
    if done.cancelled():
        return None
    exc = done.exception()
    outcome: Encoded | pb.Error | None = exception_reply(exc) if exc is not None else done.result()
    return outcome


def _log_no_return_failure(node_name: str, link: PeerLink, error: pb.Error) -> None:
    logger.warning(
        "node %s: NO_RETURN call from %s failed: %s: %s", node_name, link.peer_name, error.type, error.message
    )


class _SyncServing(Job):
    """A peer's call of a sync callback, run in a worker thread.

    One object per queued call holds all it needs (no argument tuples, no bound methods, no protobuf
    message): a flood of calls queued at once is what the garbage collector walks over again and again.
    """

    __slots__ = ("buffers", "call_id", "callback", "data", "dill", "link", "max_size", "node")

    def __init__(
        self,
        node: Serving,
        link: PeerLink,
        call_id: int,
        callback: LocalCallback,
        data: bytes,
        dill: bool,
        buffers: Buffers,
        max_size: int | None,
    ) -> None:
        Job.__init__(self, node._workers)
        self.node = node
        self.link = link
        self.call_id = call_id
        self.callback = callback
        self.data = data
        self.dill = dill
        self.buffers = buffers
        # None: NO_RETURN, nobody waits for the result.
        self.max_size = max_size

    def __repr__(self) -> str:
        return f"<call {self.call_id} of {self.callback.name!r} from {self.link.peer_name!r}>"

    def _call(self) -> Encoded | pb.Error | None:
        return serve_sync(self.callback, self.data, self.dill, self.buffers, self.max_size)

    def _then(self) -> None:
        if self.max_size is not None:
            # Handed back from the worker thread: the replies of a burst of calls wake the loop once.
            try:  # noqa: SIM105 (contextlib.suppress is an object and two calls, on every served call)
                self.node.handoff(_SyncServing._reply, self)
            except NodeStopped:
                pass  # the node stopped, and the link with it: no one to answer
            return
        if self._value is None and self._error is None:
            return  # a NO_RETURN call that ran well: nothing to report
        outcome = _outcome_of(self)
        if isinstance(outcome, pb.Error):
            _log_no_return_failure(self.node.name, self.link, outcome)

    def _reply(self) -> None:
        """Answer the call with this job's outcome; handed to the loop by the worker thread that ran it."""
        self.node._reply(self.link, self.call_id, self.callback.name, False, self)
