"""Flows: processors that read and write named streams of values, after the datagraph seed.

::

    from mesh.flows import IO, Depends, Flow, IOVal, Processor, Supervisor

    foobar = Processor(name="foobar", inputs=["foo"], outputs=["bar"])

    @foobar
    async def _foobar(foo: IO[int], multiplier: Annotated[int, Depends(get_multiplier)]):
        for i in range(await foo.first()):
            yield IOVal(name="bar", value=i * multiplier)

    Supervisor.attach(g)
    result = await Supervisor.instance.start_flow(Flow.from_tasks(foobar).resolve(), inputs=[IOVal("foo", 5)])
    async for value in result["bar"].stream():
        print(value)

A processor may be implemented on another node (attached there with its own Global): the flow then
streams its inputs to it and its outputs back as they are produced. Built on anyio, and only on the
public API of :mod:`mesh`.
"""

from __future__ import annotations

from ._depends import Depends
from ._flow import Flow
from ._io import IO, IOVal
from ._processor import Processor
from ._supervisor import Supervisor

__all__ = ["IO", "Depends", "Flow", "IOVal", "Processor", "Supervisor"]
