"""Members that leave while no controller can say so: their peers notice and drop them.

A killed process closes its sockets, so whoever is connected to it learns at once:

    the controller (alive)        its Join stream ends  -> "removed" to every member   (authority)
    the controller (away/dead)    nobody tells the view -> each node checks for itself:

      link to M ends         ->  redial M once  ->  fails: M leaves this node's view
      a dial to M fails      ->  (a call or BROADCAST to it) M leaves this node's view
      controller stream ends ->  one connect to each member only the controller vouched for
                                 ->  refused (nothing listens): it leaves this node's view
      M left this node's view    ->  Departed(M) to every linked peer
      a peer says Departed(M)    ->  one connect to M  ->  refused: M leaves this view (and on it goes)

So when the node that hosted the controller dies, every other node drops it within moments, and the
rest of the mesh keeps one view (each live member answers the connect; links carry calls as before).
A node that dies while the controller is away leaves the views of its linked peers, and through
their reports the views of the nodes linked to them; a report is checked, never just believed.
While the controller is connected, its view is the truth and nothing here runs. A controller that
comes back sends its snapshot, which replaces whatever the nodes concluded meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ..errors import MeshError
from ..wire import _transport
from ._membership import CONTROLLER, Member, Membership

logger = logging.getLogger("mesh")

# Bounds one redial or one connect check; a process that is gone refuses in microseconds.
CHECK_TIMEOUT = 2.0
SWEEP_DELAY = 0.3


class Reporter(Protocol):
    """A link, as far as reports go."""

    def send_departed(self, node_id: str) -> None: ...


class Dialler(Protocol):
    """What the checks need of their node."""

    name: str
    node_id: str
    membership: Membership
    stopping: bool

    def link_to(self, member: Member) -> Awaitable[Any]: ...

    @property
    def links(self) -> Mapping[str, Reporter]: ...

    def spawn(self, coro: Any) -> asyncio.Task[Any]: ...


class Departures:
    """Drops members whose departure only their peers can see (the controller being away)."""

    def __init__(self, node: Dialler, controller_connected: Callable[[], bool]) -> None:
        self._node = node
        self._controller_connected = controller_connected
        self._checking: set[str] = set()

    def _ours_to_judge(self, node_id: str) -> Member | None:
        """The member, when only this node can judge it: the controller vouched for it and is away."""
        member = self._node.membership.get(node_id)
        if member is None or CONTROLLER not in member.sources or self._controller_connected() or self._node.stopping:
            return None
        return member

    def link_lost(self, node_id: str) -> None:
        """The current link to ``node_id`` ended: without a controller, redial it or drop it."""
        member = self._ours_to_judge(node_id)
        if member is not None:
            self._node.spawn(self._redial(member))

    def unreachable(self, member: Member) -> None:
        """Dialling ``member`` failed: without a controller, it leaves the view."""
        self._drop(member, "dialling it failed")

    def reported(self, node_id: str, by: str) -> None:
        """Peer ``by`` dropped ``node_id``: check it here (one connect) and drop it too if nothing listens."""
        member = self._ours_to_judge(node_id)
        if member is not None:
            self._node.spawn(self._check(member, f"{by} found it gone, and nothing listens at its address"))

    def controller_lost(self) -> None:
        """The controller went away: check every member that it alone vouched for."""
        node = self._node
        members = [m for m in node.membership.members() if CONTROLLER in m.sources and m.node_id != node.node_id]
        if members and not node.stopping:
            node.spawn(self._sweep(members))

    async def _redial(self, member: Member) -> None:
        try:
            await asyncio.wait_for(self._node.link_to(member), CHECK_TIMEOUT)
        except (MeshError, asyncio.TimeoutError) as exc:
            self._drop(member, f"its link ended and redialling it failed ({exc or 'timed out'})")

    async def _sweep(self, members: list[Member]) -> None:
        # A killed process's sockets close one by one: the controller's stream may end while the
        # same process's node socket still takes connections for a moment.
        await asyncio.sleep(SWEEP_DELAY)
        await asyncio.gather(*(self._check(m, "nothing listens at its address any more") for m in members))

    async def _check(self, member: Member, why: str) -> None:
        if member.node_id in self._checking:
            return  # several peers reported it at once: one connect answers them all
        self._checking.add(member.node_id)
        try:
            if await _refuses(member.address):
                self._drop(member, why)
        finally:
            self._checking.discard(member.node_id)

    def _drop(self, member: Member, why: str) -> None:
        node = self._node
        if self._ours_to_judge(member.node_id) is not member:
            return
        logger.info("node %s: member %s left (%s)", node.name, member.name, why)
        node.membership.drop(member.node_id, CONTROLLER)
        for link in list(node.links.values()):
            link.send_departed(member.node_id)


async def _refuses(address: str) -> bool:
    """Whether ``address`` refuses a connection (nothing listens there); False when it answers or is slow."""
    try:
        path = _transport.unix_path(address)
        if path is not None:
            connecting = asyncio.open_unix_connection(path)
        else:
            host, port = _transport.split_host_port(address)
            connecting = asyncio.open_connection(host, port)
        _, writer = await asyncio.wait_for(connecting, CHECK_TIMEOUT)
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    except (OSError, MeshError, asyncio.TimeoutError):
        return False
    writer.close()
    return False
