"""Which event loop a node runs on, asked through the public API: a callback of this very process.

A call of a callback that this node offers itself runs here and returns its value unpickled, so the
callback can hand back the loop it runs on: the node's.
"""

from __future__ import annotations

import asyncio

from mesh import FG, Global, callback


@callback
async def event_loop_of_this_node() -> asyncio.AbstractEventLoop:
    """The running loop of the node that runs this callback (async callbacks run on their node's loop)."""
    return asyncio.get_running_loop()


def loop_of(g: Global) -> asyncio.AbstractEventLoop:
    """The loop ``g``'s node runs on (from sync code)."""
    loop: asyncio.AbstractEventLoop = g.call.event_loop_of_this_node() & FG
    return loop


async def loop_of_async(g: Global) -> asyncio.AbstractEventLoop:
    """The loop ``g``'s node runs on (from async code)."""
    loop: asyncio.AbstractEventLoop = await g.call.event_loop_of_this_node() & FG
    return loop
