"""Who is in the mesh, where they listen, and which callbacks each offers.

A member is kept while any source vouches for it: the controller, a live peer link, or discovery.
So calls between connected peers keep working while the controller is away, and a member the
controller dropped disappears once its link is gone too. While a link vouches for a member, the
callbacks it offers are the link's word (the member's own, in order), not a relay of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

SELF = "self"
CONTROLLER = "controller"
LINK = "link"
DISCOVERY = "discovery"


@dataclass(slots=True)
class Member:
    """One node of the mesh as this node sees it."""

    node_id: str
    name: str
    address: str
    callbacks: frozenset[str]
    sources: set[str] = field(default_factory=set)


class Membership:
    """The membership view of one node. Lives on the node's event loop; reads from other threads
    only look at immutable snapshots (``providers``) and so are safe."""

    def __init__(self, on_removed: Callable[[Member], None], on_added: Callable[[Member], None] | None = None) -> None:
        self._members: dict[str, Member] = {}
        self._by_name: dict[str, str] = {}
        # callback name -> the members offering it (dicts keep the order they came in), and the
        # read-only tuples ``providers`` hands out, rebuilt only for the names a change touched.
        self._offering: dict[str, dict[str, Member]] = {}
        self._index: dict[str, tuple[Member, ...]] = {}
        self._touched: set[str] = set()
        self._changed: asyncio.Event | None = None
        self._on_removed = on_removed
        self._on_added = on_added

    def upsert(self, node_id: str, name: str, address: str, callbacks: Iterable[str], source: str) -> None:
        self._put(node_id, name, address, callbacks, source)
        self._rebuild()

    def _put(self, node_id: str, name: str, address: str, callbacks: Iterable[str], source: str) -> None:
        offered = frozenset(callbacks)
        member = self._members.get(node_id)
        if member is None:
            member = Member(node_id, name, address, offered, {source})
            self._members[node_id] = member
            self._offer(member, offered)
            if self._on_added is not None:
                self._on_added(member)
        else:
            member.name = name
            member.address = address or member.address
            # A live link carries the member's own word, in the order it changed; the controller's
            # relay of an older change can arrive after it, and must not undo it.
            relayed = source != LINK and LINK in member.sources
            if offered != member.callbacks and not relayed:
                self._withdraw(member, member.callbacks - offered)
                self._offer(member, offered - member.callbacks)
                member.callbacks = offered
            member.sources.add(source)
        self._by_name[name] = node_id

    def _offer(self, member: Member, callbacks: Iterable[str]) -> None:
        for name in callbacks:
            self._offering.setdefault(name, {})[member.node_id] = member
            self._touched.add(name)

    def _withdraw(self, member: Member, callbacks: Iterable[str]) -> None:
        for name in callbacks:
            offering = self._offering.get(name)
            if offering is not None and offering.pop(member.node_id, None) is not None:
                self._touched.add(name)
                if not offering:
                    del self._offering[name]

    def drop(self, node_id: str, source: str) -> None:
        member = self._members.get(node_id)
        if member is None:
            return
        member.sources.discard(source)
        if not member.sources:
            del self._members[node_id]
            self._withdraw(member, member.callbacks)
            if self._by_name.get(member.name) == node_id:
                del self._by_name[member.name]
                for other in self._members.values():
                    if other.name == member.name:
                        self._by_name[member.name] = other.node_id
            self._rebuild()
            self._on_removed(member)

    def replace_source(self, source: str, members: Iterable[tuple[str, str, str, Iterable[str]]]) -> None:
        """Make ``source`` vouch for exactly ``members`` (node_id, name, address, callbacks)."""
        seen = set()
        for node_id, name, address, callbacks in members:
            seen.add(node_id)
            self._put(node_id, name, address, callbacks, source)
        for node_id in [n for n, m in self._members.items() if source in m.sources and n not in seen]:
            self.drop(node_id, source)
        self._rebuild()

    def get(self, node_id: str) -> Member | None:
        return self._members.get(node_id)

    def by_name(self, name: str) -> Member | None:
        node_id = self._by_name.get(name)
        return None if node_id is None else self._members.get(node_id)

    def members(self) -> list[Member]:
        return list(self._members.values())

    def providers(self, callback: str) -> tuple[Member, ...]:
        """Every member offering ``callback``; safe to call from any thread."""
        return self._index.get(callback, ())

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is checked after every change."""
        while not predicate():
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def _rebuild(self) -> None:
        # Each entry is replaced in one step, so a reader in another thread sees a whole tuple.
        for name in self._touched:
            offering = self._offering.get(name)
            if offering:
                self._index[name] = tuple(offering.values())
            else:
                self._index.pop(name, None)
        self._touched.clear()
        if self._changed is not None:
            self._changed.set()
            self._changed = None
