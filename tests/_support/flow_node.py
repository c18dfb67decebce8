"""A node that implements flow processors: ``python -m tests._support.flow_node NAME --port P``
joins the controller on 127.0.0.1:P, attaches the flows Supervisor, and prints ``READY <pid>``.

Its processors: ``double`` (numbers -> doubled, each value with this process's pid) and ``fail``
(numbers -> failed: one value, then ``ValueError``); with ``--implement tag,untag,relay``, also
``tag`` (numbers -> tagged, each a ``Marked``), ``untag`` (tagged -> untagged, each value with this
process's pid), ``relay`` (failed -> relayed, as they come) and ``head`` (tagged -> first: the
first value only). It serves until killed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from mesh import Global
from mesh.flows import IO, Depends, IOVal, Processor, Supervisor
from mesh.flows._processor import Implementation
from tests._support.marked import Marked

double = Processor(name="double", inputs=["numbers"], outputs=["doubled"])
fail = Processor(name="fail", inputs=["numbers"], outputs=["failed"])
tag = Processor(name="tag", inputs=["numbers"], outputs=["tagged"])
untag = Processor(name="untag", inputs=["tagged"], outputs=["untagged"])
relay = Processor(name="relay", inputs=["failed"], outputs=["relayed"])
head = Processor(name="head", inputs=["tagged"], outputs=["first"])


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


async def _tag(numbers: IO[int]) -> AsyncIterator[IOVal[Marked]]:
    async for n in numbers.stream():
        yield IOVal(name="tagged", value=Marked(n))


async def _untag(tagged: IO[Marked]) -> AsyncIterator[IOVal[Any]]:
    async for marked in tagged.stream():
        yield IOVal(name="untagged", value={"value": marked.value, "pid": os.getpid()})


async def _relay(failed: IO[int]) -> AsyncIterator[IOVal[int]]:
    async for n in failed.stream():
        yield IOVal(name="relayed", value=n)


async def _head(tagged: IO[Marked]) -> AsyncIterator[IOVal[Any]]:
    yield IOVal(name="first", value=(await tagged.first()).value)


OPTIONAL: dict[str, tuple[Processor, Implementation]] = {
    "head": (head, _head),
    "tag": (tag, _tag),
    "untag": (untag, _untag),
    "relay": (relay, _relay),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--implement", default="", help="comma-separated: tag, untag, relay, head")
    args = parser.parse_args()
    for name in filter(None, args.implement.split(",")):
        processor, fn = OPTIONAL[name]
        processor(fn)
    with Global(process_name=args.name, host="127.0.0.1", port=args.port) as g:
        Supervisor.attach(g)
        sys.stdout.write(f"READY {os.getpid()}\n")  # one write: a log line from another thread cannot split it
        sys.stdout.flush()
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
