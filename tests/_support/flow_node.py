"""A node that implements flow processors: ``python -m tests._support.flow_node NAME --port P``
joins the controller on 127.0.0.1:P, attaches the flows Supervisor, and prints ``READY <pid>``.

Its processors: ``double`` (numbers -> doubled, each value with this process's pid) and ``fail``
(numbers -> failed: one value, then ``ValueError``). It serves until killed.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from mesh import Global
from mesh.flows import IO, Depends, IOVal, Processor, Supervisor

double = Processor(name="double", inputs=["numbers"], outputs=["doubled"])
fail = Processor(name="fail", inputs=["numbers"], outputs=["failed"])


async def factor() -> int:
    return 2


@double
async def _double(numbers: IO[int], by: Annotated[int, Depends(factor)]) -> AsyncIterator[IOVal[Any]]:
    async for n in numbers.stream():
        yield IOVal(name="doubled", value={"value": n * by, "pid": os.getpid()})


@fail
async def _fail(numbers: IO[int]) -> AsyncIterator[IOVal[int]]:
    yield IOVal(name="failed", value=await numbers.first())
    raise ValueError("fail gives up after one value")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with Global(process_name=args.name, host="127.0.0.1", port=args.port) as g:
        Supervisor.attach(g)
        print("READY", os.getpid(), flush=True)
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
