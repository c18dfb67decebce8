"""A node that offers dotted names and registers callbacks on request:
``python -m tests._support.registrant --port P [--async]`` joins the controller on 127.0.0.1:P.

It prints ``READY <address>`` once joined, and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from mesh import Global, callback

node: list[Global] = []


@callback(name="tools.echo")
def tools_echo(value: Any) -> Any:
    return value


@callback(name="tools")
def tools() -> str:
    return "tools itself"


@callback(name="maths")
class Maths:
    @staticmethod
    def double(x: int) -> int:
        return 2 * x


class Store:
    """What ``offer`` registers on this node, under a prefix."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value

    def get(self, key: str) -> Any:
        return self.data.get(key)


@callback
def offer(prefix: str) -> list[str]:
    return node[0].register(Store(), prefix=prefix)


@callback
def withdraw(prefix: str) -> list[str]:
    return node[0].unregister(prefix)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--async", dest="use_async", action="store_true")
    options = parser.parse_args()
    settings: dict[str, Any] = {
        "process_name": "registrant",
        "host": "127.0.0.1",
        "port": options.port,
        "discovery": False,
    }
    if options.use_async:

        async def run() -> None:
            async with Global(**settings) as g:
                node.append(g)
                print(f"READY {g.address}", flush=True)
                await g.join_async()

        asyncio.run(run())
    else:
        g = Global(**settings)
        node.append(g)
        print(f"READY {g.address}", flush=True)
        g.join()


if __name__ == "__main__":
    main()
