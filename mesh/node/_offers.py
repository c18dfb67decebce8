"""Who offers a callback, as this node sees it: the membership view, and this process's own registry.

A callback defined (or a ``@callback`` class made) while the node runs is in the registry at once,
and in the membership view only once the node's loop has been told: in between, the registry
answers, so a callback that exists is never unknown to its own process.
"""

from __future__ import annotations

from ..errors import UnknownCallback
from ..membership._membership import Member, Membership
from ._registry import CallbackRegistry


class Offers:
    """The providers of callback names for one node. Safe from any thread."""

    __slots__ = ("_membership", "_node_id", "_registry")

    def __init__(self, membership: Membership, registry: CallbackRegistry, node_id: str) -> None:
        self._membership = membership
        self._registry = registry
        self._node_id = node_id

    def own(self, name: str) -> Member | None:
        """This node, if its registry has ``name``."""
        if self._registry.get(name) is None:
            return None
        return self._membership.get(self._node_id)

    def providers(self, name: str) -> tuple[Member, ...]:
        """Every member offering ``name``, this node included as soon as its registry has it."""
        found = self._membership.providers(name)
        own = self.own(name)
        if own is None or any(member.node_id == self._node_id for member in found):
            return found
        return (*found, own)

    def unknown(self, name: str, detail: str = "") -> UnknownCallback:
        """The error for a call of ``name``, which nobody offers, naming the offered names close to it."""
        offered = {callback for member in self._membership.members() for callback in member.callbacks}
        return UnknownCallback(name, detail, offered.union(self._registry.names()))
