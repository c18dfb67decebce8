"""A node serving the pipeline rows' processors: ``python -m mesh.bench._pipeline_node --name N [--host H --port P]``.

Serves ``bench_pl.inc`` (x + 1), ``bench_pl.double`` (x * 2), ``bench_pl.same`` (x) and ``bench_pl.slow`` (a sink that
takes 2 ms an item). Prints ``READY <address>`` once joined; SIGTERM stops the node.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mesh import Global
from mesh.pipelines import RemoteSelf, serve_processor

from ._proc import run_child_node

SLOW_SECONDS = 0.002


async def inc(self: RemoteSelf, q_elt: tuple[Any, ...]) -> Any:
    return q_elt[0] + 1


async def double(self: RemoteSelf, q_elt: tuple[Any, ...]) -> Any:
    return q_elt[0] * 2


async def same(self: RemoteSelf, q_elt: tuple[Any, ...]) -> Any:
    return q_elt[0]


async def slow(self: RemoteSelf, q_elt: tuple[Any, ...]) -> None:
    await asyncio.sleep(SLOW_SECONDS)


def _serve_processors(node: Global) -> None:
    for name, coro in (("inc", inc), ("double", double), ("same", same), ("slow", slow)):
        serve_processor(node, coro, f"bench_pl.{name}")


def main() -> None:
    run_child_node(_serve_processors)


if __name__ == "__main__":
    main()
