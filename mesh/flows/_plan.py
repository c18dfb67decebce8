"""Which values of a flow go from node to node directly: the plan of each processor run elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from ._flow import Flow


@dataclass
class Plan:
    """For a processor run on another node: the inputs it pulls from the producer's node (by the
    producing processor's name), the direct edges of each output, and the outputs this node takes."""

    pulls: dict[str, str] = field(default_factory=dict)
    edges: dict[str, list[str]] = field(default_factory=dict)
    to_caller: list[str] = field(default_factory=list)


def edge(output: str, reader: str) -> str:
    """The name of the direct edge that carries ``output`` to the processor ``reader``."""
    return f"{output}->{reader}"


def plan_flow(flow: Flow) -> dict[str, Plan]:
    """The plans of the processors of ``flow`` that this process does not implement: a value between
    two of them goes direct; one from or to a processor here, or a result, comes through here."""
    remote = {p.name: p for p in flow.processors if p.implementation is None}
    producer = {o: p.name for p in flow.processors for o in p.outputs}
    plans = {name: Plan() for name in remote}
    local_reads = set(flow.outputs)
    for p in flow.processors:
        for name in p.inputs:
            source = producer.get(name)
            if p.name in remote and source in remote:
                plans[p.name].pulls[name] = source
                plans[source].edges.setdefault(name, []).append(edge(name, p.name))
            else:
                local_reads.add(name)
    for name, p in remote.items():
        plans[name].to_caller = [o for o in p.outputs if o in local_reads]
    return plans


class Located:
    """Where a processor runs on the mesh, once its node said so, or why it never started."""

    def __init__(self) -> None:
        self._known = anyio.Event()
        self._node: str | None = None
        self._error: BaseException | None = None

    def found(self, node: str) -> None:
        """It runs on ``node``."""
        self._node = node
        self._known.set()

    def failed(self, error: BaseException) -> None:
        """It failed before it said where it runs (nothing, if it had)."""
        if not self._known.is_set():
            self._error = error
            self._known.set()

    async def node(self) -> str:
        """The node's name; raises the processor's error if it never started."""
        await self._known.wait()
        if self._node is None:
            assert self._error is not None
            raise self._error
        return self._node
