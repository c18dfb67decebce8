"""A node that traces its calls, for tests/test_tracing.py: ``python -m tests._support.traced NAME SPANS [CALL ...]``.

Every span it ends is written to the file SPANS, one JSON object a line (the SDK's ConsoleSpanExporter).
With no CALL it serves (B offers ``relay``, which calls ``leaf`` on C; C offers ``leaf``) and prints
``READY``; with CALLs (``relay:1``) it makes each inside a root span of its own, prints ``DONE`` and ends.
Nodes join the controller at ``127.0.0.1:$CONTROLLER_PORT``. ``MESH_TRACING=1`` in the environment turns
tracing on instead of :func:`mesh.enable_tracing`.
"""

from __future__ import annotations

import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from mesh import FG, Global, MeshError, enable_tracing


def leaf(x: int) -> int:
    if x < 0:
        raise ValueError(f"leaf refuses {x}")
    return x + 1


def relay(x: int, g: Global) -> int:
    result: int = g.call.leaf(x) & FG(receiver="C", timeout=10)
    return result


async def relay_async(x: int, g: Global) -> int:
    result: int = await g.call.leaf(x) & FG(receiver="C", timeout=10)
    return result


def main() -> None:
    name, spans, *calls = sys.argv[1:]
    provider = TracerProvider()
    out = open(spans, "a", buffering=1)  # noqa: SIM115 (open until the process ends)
    provider.add_span_processor(
        SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n"))
    )
    trace.set_tracer_provider(provider)
    if not os.environ.get("MESH_TRACING"):
        enable_tracing()
    g = Global(process_name=name, host="127.0.0.1", port=int(os.environ["CONTROLLER_PORT"]), discovery=False)
    for offered in {"B": [relay, relay_async], "C": [leaf]}.get(name, []):
        g.register(offered)
    if not calls:
        print("READY", flush=True)
        g.join()
        return
    tracer = trace.get_tracer("test")
    for each in calls:
        function, argument = each.split(":")
        g.wait_function(function, timeout=10)
        with tracer.start_as_current_span(f"root {each}"):
            try:
                print(function, getattr(g.call, function)(int(argument)) & FG(timeout=10), flush=True)
            except (MeshError, ValueError) as exc:
                print(function, "failed:", exc, flush=True)
    g.stop()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
