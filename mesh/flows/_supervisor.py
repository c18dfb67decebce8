"""``Supervisor``: runs flows, here or on the nodes of the mesh that implement their processors."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio

from mesh import STREAM, Global, UsageError, stream
from mesh.pipelines._direct import let_go

from ._flow import Flow
from ._host import serve
from ._io import IO, Failed, IOVal
from ._plan import Located, Plan, edge, plan_flow
from ._processor import IMPLEMENTED, ON_IMPLEMENTED, Processor, check_item
from ._sending import Sends, send_all
from ._spawn import on_asyncio, spawn

PREFIX = "flows"
"""Processors implemented here are offered on the mesh as ``flows.<name>``."""


class _Instance:
    def __get__(self, obj: object, owner: type[Supervisor]) -> Supervisor:
        if owner.current is None:
            raise UsageError(
                "no Supervisor yet: call Supervisor.attach(g) first (g: the Global of this process's node)"
            )
        return owner.current


class Supervisor:
    """The one Supervisor of a process: ``Supervisor.attach(g)``, then ``Supervisor.instance``.

    Attached to a :class:`~mesh.Global`, it offers every processor implemented in this process on
    ``g``'s node (as the callback ``flows.<name>``, now and as they are implemented later), and runs
    a flow's processors that are not implemented here on a node of the mesh that offers them.
    Every edge of a flow is a memory object stream of ``buffer`` values: a slow reader holds its
    producer.
    """

    current: ClassVar[Supervisor | None] = None
    instance: ClassVar[_Instance] = _Instance()

    def __init__(self, g: Global | None, buffer: int) -> None:
        self.g = g
        self.buffer = buffer
        self._offered: list[str] = []

    @classmethod
    def attach(cls, g: Global | None = None, *, buffer: int = 64) -> Supervisor:
        """Make the process's Supervisor (replacing one attached before); ``g=None`` runs flows here only.

        Raises:
            UsageError: ``buffer`` is not a positive int; ``g`` is not a Global.
        """
        if not isinstance(buffer, int) or isinstance(buffer, bool) or buffer < 1:
            raise UsageError(f"Supervisor.attach(buffer=...) is a positive int, not {buffer!r}")
        if g is not None and not isinstance(g, Global):
            raise UsageError(f"Supervisor.attach takes a Global (or None), not {g!r}")
        cls.detach()
        supervisor = cls(g, buffer)
        for processor in IMPLEMENTED.values():
            supervisor._offer(processor)
        ON_IMPLEMENTED.append(supervisor._offer)
        cls.current = supervisor
        return supervisor

    @classmethod
    def detach(cls) -> None:
        """Drop the process's Supervisor, withdrawing what it offered on the mesh."""
        supervisor, cls.current = cls.current, None
        if supervisor is None:
            return
        ON_IMPLEMENTED.remove(supervisor._offer)
        if supervisor.g is not None and supervisor._offered:
            supervisor.g.unregister(PREFIX)

    def _offer(self, processor: Processor) -> None:
        if self.g is not None:
            self._offered += self.g.register(serve(self.g, processor), name=f"{PREFIX}.{processor.name}")

    async def start_flow(self, flow: Flow, inputs: Iterable[IOVal[Any]] = ()) -> dict[str, IO[Any]]:
        """Start ``flow`` with the values ``inputs``; return its outputs (those no processor of it
        reads), each an :class:`IO` to read as the values are produced.

        Each processor starts at once and takes its inputs as they come. One implemented in this
        process runs here; any other, on a node that offers it (``flows.<name>``), its inputs and
        outputs streamed to and from that node as they are produced. An error of a processor is
        raised by the IOs it feeds, and so on downstream.

        Raises:
            UsageError: the flow is not resolved; ``inputs`` miss an input of the flow or give
                one it produces or does not read; a processor is implemented neither here nor
                (with no Global attached) anywhere this Supervisor can call.
        """
        if not isinstance(flow, Flow) or not flow.resolved:
            raise UsageError(f"start_flow takes a resolved Flow: Flow.from_tasks(...).resolve(), not {flow!r}")
        values: dict[str, list[Any]] = defaultdict(list)
        for item in inputs:
            if not isinstance(item, IOVal):
                raise UsageError(f"start_flow's inputs are IOVal(name=..., value=...), not {item!r}")
            values[item.name].append(item.value)
        flow.check_inputs(set(values))
        for p in flow.processors:
            if p.implementation is None and self.g is None:
                raise UsageError(
                    f"processor {p.name!r} is not implemented in this process, and the Supervisor has no Global "
                    "to call it on the mesh: Supervisor.attach(g)"
                )
        sends: dict[str, Sends] = defaultdict(list)

        def reader(name: str) -> IO[Any]:
            send, receive = anyio.create_memory_object_stream[Any](self.buffer)
            sends[name].append(send)
            return IO[Any](name, receive)

        plans = plan_flow(flow)
        inputs_of = {
            p.name: {name: reader(name) for name in p.inputs if name not in (plans.get(p.name) or Plan()).pulls}
            for p in flow.processors
        }
        results = {name: reader(name) for name in flow.outputs}
        spawn(self._run, flow, values, inputs_of, sends, plans)
        return results

    async def _run(
        self,
        flow: Flow,
        values: dict[str, list[Any]],
        inputs_of: dict[str, dict[str, IO[Any]]],
        sends: dict[str, Sends],
        plans: dict[str, Plan],
    ) -> None:
        run = _Remote(uuid.uuid4().hex, {name: Located() for name in plans}, plans)
        async with anyio.create_task_group() as tasks:
            for name, given in values.items():
                tasks.start_soon(_feed, given, sends[name])
            for p in flow.processors:
                tasks.start_soon(self._run_processor, p, inputs_of[p.name], {o: sends[o] for o in p.outputs}, run)

    async def _run_processor(
        self, p: Processor, ios: dict[str, IO[Any]], outputs: dict[str, Sends], run: _Remote
    ) -> None:
        try:
            items = p.run(ios) if p.implementation is not None else self._remote(p, ios, run)
            async with aclosing(items):  # the processor's finally runs when it is stopped
                async for item in items:
                    await send_all(outputs[item.name], item.value)
                    if p.implementation is not None and not any(outputs.values()):
                        break  # every reader stopped: nobody takes what it would make
        except Exception as error:  # handed on to every reader, raised there as its own type
            for readers in outputs.values():
                await send_all(readers, Failed(error))
        finally:
            with anyio.CancelScope(shield=True):
                for readers in outputs.values():
                    for send in readers:
                        await send.aclose()
                for io in ios.values():
                    await io.aclose()

    async def _remote(self, p: Processor, ios: dict[str, IO[Any]], run: _Remote) -> AsyncGenerator[IOVal[Any], None]:
        if not on_asyncio():
            raise UsageError(f"processor {p.name!r} runs on another node: a flow calling the mesh runs on asyncio")
        here, plan = run.located[p.name], run.plans[p.name]
        pulls: dict[str, tuple[str, str]] = {}
        try:
            for name, source in plan.pulls.items():
                pulls[name] = (await run.located[source].node(), edge(name, p.name))
            remote: Any = self.g.call if self.g is not None else None
            for part in (PREFIX, *p.name.split(".")):
                remote = getattr(remote, part)
            body = {"inputs": list(ios), "pulls": pulls, "edges": plan.edges, "to_caller": plan.to_caller}
            streams = (stream(io.stream(), window=self.buffer) for io in ios.values())
            call = remote(run.session, {**body, "buffer": self.buffer}, *streams)
            async with call & STREAM(window=self.buffer) as items:
                async for item in items:
                    if isinstance(item, str):  # the first: the node it runs on
                        here.found(item)
                    else:
                        yield check_item(p, item)
        except Exception as error:
            here.failed(error)
            raise
        finally:
            here.failed(UsageError(f"processor {p.name!r} was stopped before it started"))
            if self.g is not None:
                for node, name in pulls.values():
                    await let_go(self.g, node, run.session, name)


@dataclass
class _Remote:
    """One run of a flow, as its processors on other nodes see it: its session, where each runs, their plans."""

    session: str
    located: dict[str, Located]
    plans: dict[str, Plan]


async def _feed(values: list[Any], readers: Sends) -> None:
    try:
        for value in values:
            await send_all(readers, value)
    finally:
        for send in readers:
            await send.aclose()
