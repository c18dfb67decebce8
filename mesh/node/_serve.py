"""One incoming call: what a peer asked for, and serving it (decode the arguments, run the callback,
encode the outcome).

The outcome is an :class:`Encoded` result or a ``pb.Error`` reply; nothing here raises, so a sync call
can run entirely in a worker thread and hand back only bytes ready to send. The sync and the async
face share the decoding and the encoding; each only runs its callback its own way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import types
from collections.abc import Callable, Coroutine
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NodeStopped, SerializationError, UsageError
from ..wire._codec import Encoded, decode_args, encode, wrap_large_bytes
from ..wire._outcome import error_reply, exception_reply
from ..wire._proto import mesh_pb2 as pb
from ._caller import end_serving, serving_call
from ._flow import Inlet
from ._inject import with_global
from ._stats import NO_RETURN, REPLY, STREAM
from ._streams import Outlet, produce_async, produce_sync, receiving
from ._workers import Job, WorkerPool

if TYPE_CHECKING:
    from ..wire._frames import Buffers
    from ..wire._link import PeerLink
    from ..wire._tracing import ServerTrace
    from ._handoff import Handoff
    from ._registry import LocalCallback
    from ._stats import NodeStats

logger = logging.getLogger("mesh")

Outcome = Encoded | pb.Error | None
Arguments = tuple[tuple[Any, ...], dict[str, Any]]


class ServeHost(Protocol):
    """What an incoming call needs of the node that serves it: its workers, the way back to its loop,
    and where the outcome goes."""

    name: str
    node_id: str
    handoff: Handoff
    workers: WorkerPool
    stats: NodeStats
    # The serving node's Global, for the callbacks that ask for it (mesh.node._inject).
    owner: Callable[[], Any]

    def reply(self, call: IncomingCall, done: asyncio.Future[Any] | Job) -> None: ...


class IncomingCall(Job):
    """One call a peer sent: made once where its envelope is read, and handed whole to whatever serves it.

    It is also the worker pool's job when its callback is sync: one object per queued call holds all
    it needs (no argument tuples, no bound methods, no protobuf message), since a flood of calls
    queued at once is what the garbage collector walks over again and again.
    """

    __slots__ = (
        "answer",
        "buffers",
        "call_id",
        "callback",
        "data",
        "dill",
        "inlets",
        "link",
        "max_size",
        "node",
        "outlet",
        "started",
        "trace",
    )

    def __init__(
        self,
        node: ServeHost,
        link: PeerLink,
        call_id: int,
        callback: LocalCallback,
        data: bytes,
        dill: bool,
        buffers: Buffers,
        max_size: int | None,
    ) -> None:
        Job.__init__(self, node.workers)
        self.node = node
        self.link = link
        self.call_id = call_id
        self.callback = callback
        # The pickled arguments (by dill if ``dill``) and their out-of-band buffers.
        self.data = data
        self.dill = dill
        self.buffers = buffers
        # What the encoded result may weigh; None: NO_RETURN, nobody waits for the result.
        self.max_size = max_size
        # A STREAM call's outlet for the items it yields, and the inlets of its streamed arguments.
        self.outlet: Outlet | None = None
        self.inlets: list[Inlet] | None = None
        # The call's SERVER span when this node traces and the caller sent its trace context.
        self.trace: ServerTrace | None = None
        # Another node to send the result to as well: its id, and the id of its call this one serves.
        self.answer: tuple[str, int] | None = None
        self.started = perf_counter()

    def __repr__(self) -> str:
        return f"<call {self.call_id} of {self.callback.name!r} from {self.link.peer_name!r}>"

    def task_done(self, task: asyncio.Future[Any]) -> None:
        """Answer the call once the task that served it is done. On the loop."""
        self.node.reply(self, task)

    def serve_here(self) -> Outcome:
        """Serve the call of a sync callback in this thread (a worker's, or the loop's for an inline one)."""
        serve = serve_sync if self.outlet is None else serve_stream_sync
        return serve(self) if self.trace is None else self.trace.run(serve, self)

    _call = serve_here

    def _then(self) -> None:
        if self.max_size is not None:
            # Handed back from the worker thread: the replies of a burst of calls wake the loop once.
            try:  # noqa: SIM105 (contextlib.suppress is an object and two calls, on every served call)
                self.node.handoff(IncomingCall._reply, self)
            except NodeStopped:
                pass  # the node stopped, and the link with it: no one to answer
            return
        if self._value is None and self._error is None:
            self.count(True)
            return  # a NO_RETURN call that ran well: nothing to report
        outcome = outcome_of(self)
        self.count(not isinstance(outcome, pb.Error))
        if isinstance(outcome, pb.Error):
            log_no_return_failure(self.node.name, self.link, outcome)

    def count(self, ok: bool) -> None:
        """Count this call, served now, in the node's statistics."""
        kind = NO_RETURN if self.max_size is None else REPLY if self.outlet is None else STREAM
        self.node.stats.served(self.callback.name, kind, ok, perf_counter() - self.started)

    def _reply(self) -> None:
        """Answer the call with this job's outcome; handed to the loop by the worker thread that ran it."""
        self.node.reply(self, self)


def serving(
    call: IncomingCall, serve: Callable[[IncomingCall], Coroutine[Any, Any, Outcome]]
) -> Coroutine[Any, Any, Outcome]:
    """What serves ``call`` of an async callback on the loop: ``serve(call)``, inside its span if it has one."""
    return serve(call) if call.trace is None else call.trace.run_async(serve(call))


def _arguments(call: IncomingCall) -> Arguments | Outcome:
    """The callback's arguments, decoded, with the serving node's Global where the callback asks for it;
    or the error outcome of arguments that do not decode."""
    arguments = decode_arguments(call)
    if isinstance(arguments, tuple) and call.callback.global_param is not None:
        args, kwargs = arguments
        return args, with_global(kwargs, call.callback.global_param, call.node.owner)
    return arguments


def serve_sync(call: IncomingCall) -> Outcome:
    """Serve ``call`` of a sync callback in whatever thread calls this.

    None means a NO_RETURN call that served well: its result is not encoded, only a failure returned.
    """
    arguments = _arguments(call)
    if not isinstance(arguments, tuple):
        return arguments
    args, kwargs = arguments
    # An inline callback runs on the loop, where it cannot wait for a call; nobody waits for NO_RETURN;
    # a call with streamed arguments ends its streams with its own answer.
    token = None
    if not call.callback.inline and call.max_size is not None and call.inlets is None:
        token = serving_call(call, threading.get_ident())
    try:
        value = call.callback.fn(*args, **kwargs)
    except Exception as exc:
        return _failure(call.callback, exc, args, kwargs)
    finally:
        if token is not None:
            end_serving(token)
    return _encode_result(call, value)


async def serve_async(call: IncomingCall) -> Outcome:
    """Serve ``call`` of an async callback on the running loop; the rest as for :func:`serve_sync`."""
    arguments = _arguments(call)
    if not isinstance(arguments, tuple):
        return arguments
    args, kwargs = arguments
    if call.max_size is not None and call.inlets is None:
        # The task's own copy of the context: nothing to undo. Its owner, the task, is found when asked.
        serving_call(call, None)
    try:
        value = await call.callback.fn(*args, **kwargs)
    except Exception as exc:
        return _failure(call.callback, exc, args, kwargs)
    return _encode_result(call, value)


def serve_stream_sync(call: IncomingCall) -> Outcome:
    """Serve ``call``, a STREAM call of a sync callback, in this worker thread: pump what the callback
    yields into the call's outlet as the caller's credit allows. The outcome ends the stream."""
    arguments = _arguments(call)
    if not isinstance(arguments, tuple):
        return arguments
    args, kwargs = arguments
    assert call.outlet is not None
    try:
        produce_sync(call.callback.fn, args, kwargs, call.outlet, call.callback.name)
    except Exception as exc:
        return _failure(call.callback, exc, args, kwargs)
    return _encode_result(call, None)


async def serve_stream_async(call: IncomingCall) -> Outcome:
    """Like :func:`serve_stream_sync`, for an async callback or async generator, on the loop."""
    arguments = _arguments(call)
    if not isinstance(arguments, tuple):
        return arguments
    args, kwargs = arguments
    assert call.outlet is not None
    try:
        await produce_async(call.callback.fn, args, kwargs, call.outlet, call.callback.name)
    except Exception as exc:
        return _failure(call.callback, exc, args, kwargs)
    return _encode_result(call, None)


def decode_arguments(call: IncomingCall) -> Arguments | pb.Error:
    """The call's ``(args, kwargs)``, or the error reply that says why they cannot be loaded here;
    its streamed arguments load as their inlets."""
    try:
        if call.inlets:
            with receiving(call.inlets):
                return decode_args(call.data, call.buffers, call.dill, call.callback.name)
        return decode_args(call.data, call.buffers, call.dill, call.callback.name)
    except SerializationError as exc:
        return exception_reply(exc)


def _failure(callback: LocalCallback, exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> pb.Error:
    """The reply for an exception of the callback; a TypeError from arguments that do not fit the
    signature is BadArguments."""
    if isinstance(exc, TypeError):
        problem = callback.arguments_error(args, kwargs)
        if problem is not None:
            return error_reply(pb.ERROR_KIND_BAD_ARGUMENTS, problem)
    return exception_reply(exc)


def _encode_result(call: IncomingCall, value: Any) -> Outcome:
    if call.max_size is None:
        return None
    try:
        return encode(wrap_large_bytes(value), call.max_size, "result", call.callback.name)
    except SerializationError as exc:
        if isinstance(value, types.GeneratorType | types.AsyncGeneratorType):
            return exception_reply(
                UsageError(f"callback {call.callback.name!r} yields its items: call it with & STREAM to take them")
            )
        return exception_reply(exc)


def outcome_of(done: asyncio.Future[Any] | Job) -> Outcome:
    """What a finished serving task or job has to send: its encoded result or error reply; None if cancelled."""
    if done.cancelled():
        return None
    exc = done.exception()
    outcome: Outcome = exception_reply(exc) if exc is not None else done.result()
    return outcome


def log_no_return_failure(node_name: str, link: PeerLink, error: pb.Error) -> None:
    """Say that a NO_RETURN call failed: nobody else hears of it."""
    logger.warning(
        "node %s: NO_RETURN call from %s failed: %s: %s", node_name, link.peer_name, error.type, error.message
    )
