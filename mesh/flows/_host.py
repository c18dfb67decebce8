"""A flow's processor run for another node's Supervisor: the callback ``flows.<name>``.

::

    starting node ── stream(values) per input ──> flows.<name>(session, plan, *inputs) on node X
                  <── STREAM: X's name, then the IOVals the starting node takes
    node Y (a processor reading an output of X) ── mesh_direct.pull ──> X's direct edge of that output

The first item tells the starting node where the processor runs, so that the processors reading
its outputs on other nodes pull them from there: values between two processors on other nodes go
from one node to the other, not through the starting node. An error goes down every edge as a
:class:`Failed` value, and is raised by the call too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from mesh import Global, UsageError
from mesh.pipelines._direct import Edge, edges_of, pull

from ._io import IO, Failed
from ._processor import Processor
from ._sending import send_all


def serve(g: Global, processor: Processor) -> Any:
    """The callback that runs ``processor`` on ``g``'s node for a flow started elsewhere."""
    edges = edges_of(g)

    async def run(session: str, plan: Mapping[str, Any], *inputs: AsyncIterator[Any]) -> AsyncIterator[Any]:
        names = [*plan["inputs"], *plan["pulls"]]
        if sorted(names) != sorted(processor.inputs):
            raise UsageError(
                f"processor {processor.name!r} on node {g.process_name!r} reads {list(processor.inputs)}; "
                f"the flow that called it gave {names}"
            )
        buffer = plan["buffer"]
        outs = {o: {edge: edges.get(session, edge, buffer) for edge in found} for o, found in plan["edges"].items()}
        ios = {name: IO[Any](name, source) for name, source in zip(plan["inputs"], inputs, strict=True)}
        for name, (node, edge) in plan["pulls"].items():
            ios[name] = IO[Any](name, _pulled(g, node, session, edge, buffer))
        sends = {o: [entry.send for entry in found.values()] for o, found in outs.items()}
        yield g.process_name
        try:
            failure: Exception | None = None
            try:
                async for item in processor.run(ios):
                    await send_all(sends.get(item.name, []), item.value)
                    if item.name in plan["to_caller"]:
                        yield item
                    elif not plan["to_caller"] and not any(sends.values()):
                        break  # every reader stopped: nobody takes what it would make
            except Exception as error:  # its readers raise it in turn, as local ones do
                failure = error
                for readers in sends.values():
                    await send_all(readers, Failed(error))
            _end(outs)
            await _drained(outs)  # its readers take what is left (or leave) before the edges go
            if failure is not None:
                raise failure
        finally:
            _end(outs)
            for found in outs.values():
                for edge, entry in found.items():
                    edges.drop(session, edge, entry)

    return run


def _end(outs: Mapping[str, Mapping[str, Edge]]) -> None:
    for found in outs.values():
        for entry in found.values():
            entry.end(failed=False)


async def _drained(outs: Mapping[str, Mapping[str, Edge]]) -> None:
    for found in outs.values():
        for entry in found.values():
            await entry.drained.wait()


async def _pulled(g: Global, node: str, session: str, edge: str, buffer: int) -> AsyncIterator[Any]:
    items = await pull(g, node, session, edge, buffer, buffer, keep=False)
    async with items:
        async for batch in items:
            for value in batch:
                yield value
