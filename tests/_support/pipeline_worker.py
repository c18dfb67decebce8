"""A mesh node that serves pipeline processors, run as ``python -m tests._support.pipeline_worker --name N``.

It serves ``reverse`` (the seed's, answering with this process's PID beside the result),
``failing`` (raises on the item ``"boom"``), ``slow`` (2 ms an item), ``same`` (passes items
on), ``mark`` (wraps an item in a :class:`~tests._support.marked.Marked`), ``unmark`` (reverses a
marked item, with the PID) and ``pair`` (its inputs as a tuple, unmarked), and the callback
``pipelines.open_edges`` (how many direct edges the node keeps now); prints ``READY <address>``
once joined, and serves until stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from mesh import Global
from mesh.pipelines import RemoteSelf, serve_processor
from mesh.pipelines._direct import edges_of
from tests._support.marked import Marked


async def reverse(self: RemoteSelf, q_elt: tuple[Any, ...]) -> tuple[str, int]:
    return q_elt[0][::-1], os.getpid()


async def mark(self: RemoteSelf, q_elt: tuple[Any, ...]) -> Marked:
    return Marked(q_elt[0])


async def unmark(self: RemoteSelf, q_elt: tuple[Any, ...]) -> tuple[str, int]:
    return q_elt[0].value[::-1], os.getpid()


async def pair(self: RemoteSelf, q_elt: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(item.value if isinstance(item, Marked) else item for item in q_elt)


async def failing(self: RemoteSelf, q_elt: tuple[Any, ...]) -> Any:
    if q_elt[0] == "boom":
        raise ValueError(f"{self.name} refused {q_elt[0]!r}")
    return q_elt[0]


async def same(self: RemoteSelf, q_elt: tuple[Any, ...]) -> Any:
    return q_elt[0]


async def slow(self: RemoteSelf, q_elt: tuple[Any, ...]) -> Any:
    await asyncio.sleep(0.002)
    return q_elt[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    options = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    g = Global(process_name=options.name, host=options.host, port=options.port, discovery=False)
    serve_processor(g, reverse, "pipelines.reverse")
    serve_processor(g, failing, "pipelines.failing")
    serve_processor(g, slow, "pipelines.slow")
    serve_processor(g, same, "pipelines.same")
    serve_processor(g, mark, "pipelines.mark")
    serve_processor(g, unmark, "pipelines.unmark")
    serve_processor(g, pair, "pipelines.pair")
    edges = edges_of(g)
    g.register(lambda: len(edges), name="pipelines.open_edges")
    print(f"READY {g.address}", flush=True)
    g.join()


if __name__ == "__main__":
    main()
