"""OpenTelemetry spans of calls (the ``grpcmesh[tracing]`` extra), with the trace context in the call envelope.

::

    caller (node A)                                   callee (node B)
    prepare: CLIENT span "name", child of the
             caller's current span
    Call{traceparent, tracestate}  ───────────────>   on_call: SERVER span "name", child of the
                                                               caller's span; current while the
                                                               callback runs, so B's own calls are
                                                               its children
    reply arrives: the CLIENT span ends  <─────────   outcome sent: the SERVER span ends

Off (the default), :data:`tracer` is None and a call pays one ``is None`` test where it is encoded,
sent and served: no span, no context, no string. :func:`enable_tracing` turns it on for this process,
and so does ``MESH_TRACING=1`` when a node starts. A callee traces only when it is on there too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import UsageError
from ._proto import mesh_pb2 as pb

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

# The tracer of this process's calls; None: tracing is off.
tracer: Tracer | None = None

OutcomeT = TypeVar("OutcomeT")
_INSTRUMENTATION = "grpcmesh"


def enable_tracing(tracer_provider: TracerProvider | None = None) -> None:
    """Trace this process's calls: a CLIENT span for each call it makes to another node, a SERVER span
    for each call it serves, the caller's trace context carried in the call.

    Args:
        tracer_provider: where the spans go; by default OpenTelemetry's global provider (set it up with
            the SDK, or ``opentelemetry-instrument``).

    Raises:
        UsageError: OpenTelemetry is not installed (``pip install 'grpcmesh[tracing]'``).
    """
    global tracer
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise UsageError("tracing needs OpenTelemetry: pip install 'grpcmesh[tracing]'") from exc
    tracer = trace.get_tracer(_INSTRUMENTATION, tracer_provider=tracer_provider)


def disable_tracing() -> None:
    """Stop tracing this process's calls (spans already started still end)."""
    global tracer
    tracer = None


def enable_from_environment() -> None:
    """Turn tracing on when ``MESH_TRACING`` is set to 1 (or true, yes, on) and it is not on yet."""
    if tracer is None and os.environ.get("MESH_TRACING", "").lower() in ("1", "true", "yes", "on"):
        enable_tracing()


def _attributes(name: str, peer: str) -> dict[str, str]:
    return {"rpc.system": _INSTRUMENTATION, "rpc.method": name, "mesh.peer": peer}


class ClientTrace:
    """The CLIENT span of one outgoing call, and the headers of its context for the envelope."""

    __slots__ = ("span", "traceparent", "tracestate")

    def __init__(self, name: str, peer: str) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        assert tracer is not None
        self.span: Span = tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=_attributes(name, peer))
        headers: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(headers, context=trace.set_span_in_context(self.span))
        self.traceparent = headers.get("traceparent", "")
        self.tracestate = headers.get("tracestate", "")

    def write(self, call: pb.Call) -> None:
        """Put the context in ``call``'s envelope."""
        call.traceparent = self.traceparent
        if self.tracestate:
            call.tracestate = self.tracestate

    def end(self, failure: str | None = None) -> None:
        """End the span; ``failure``: what the call failed with, in words."""
        if failure is not None:
            _failed(self.span, failure)
        self.span.end()

    def end_with(self, target: Any) -> None:
        """End the span when ``target`` (the call's outcome, with ``add_done_callback`` and ``failure()``)
        is done; a target without them (a STREAM's) ends it now that the call is sent."""
        if hasattr(target, "add_done_callback"):
            target.add_done_callback(self._target_done)
        else:
            self.end()

    def _target_done(self, target: Any) -> None:
        self.end(target.failure())


class ServerTrace:
    """The SERVER span of one incoming call: a child of the caller's span, current while the callback runs."""

    __slots__ = ("span",)

    def __init__(self, name: str, call: pb.Call, peer: str) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        assert tracer is not None
        parent = TraceContextTextMapPropagator().extract(
            {"traceparent": call.traceparent, "tracestate": call.tracestate}
        )
        self.span = tracer.start_span(
            name, context=parent, kind=trace.SpanKind.SERVER, attributes=_attributes(name, peer)
        )

    def run(self, serve: Callable[[Any], OutcomeT], call: Any) -> OutcomeT:
        """``serve(call)`` in this thread with the span current; the span ends with its outcome."""
        token = self._attach()
        try:
            outcome = serve(call)
        finally:
            _detach(token)
        self.end(outcome)
        return outcome

    async def run_async(self, serving: Coroutine[Any, Any, OutcomeT]) -> OutcomeT:
        """Await ``serving`` with the span current (in this task); the span ends with its outcome, or
        failed when the call is cancelled (its caller went, or the node stops)."""
        token = self._attach()
        try:
            outcome = await serving
        except BaseException as exc:
            _failed(self.span, f"{type(exc).__name__}: {exc}")
            self.span.end()
            raise
        finally:
            _detach(token)
        self.end(outcome)
        return outcome

    def end(self, outcome: Any) -> None:
        """End the span; an error reply (``pb.Error``) marks it failed."""
        if isinstance(outcome, pb.Error):
            _failed(self.span, f"{outcome.type}: {outcome.message}")
        self.span.end()

    def _attach(self) -> object:
        from opentelemetry import context, trace

        return context.attach(trace.set_span_in_context(self.span))


def _detach(token: Any) -> None:
    from opentelemetry import context

    context.detach(token)


def _failed(span: Span, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, description))
