"""BROADCAST, the part of a node's calls that calls every node offering a callback (:class:`Broadcasting`,
which extends :class:`~mesh.node._outgoing.Calling`), and the ``{node name: result}`` its callers get back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from ..errors import BroadcastError, UnknownCallback, UsageError
from ..membership._membership import Member
from ..wire._codec import RUN_HERE, Outgoing
from ._outgoing import Calling

logger = logging.getLogger("mesh")


class Broadcasting(Calling):
    """The BROADCAST part of a node's calls: which nodes a broadcast goes to, and one for no result. On
    the loop (``broadcast_plan`` from any thread)."""

    def broadcast_no_return(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], receivers: tuple[str, ...] | None = None
    ) -> None:
        """Send a call of ``name`` to every node that offers it (of ``receivers``), for no result; failures
        are logged.

        (The caller checked that some node offers ``name``; the last of them may have left since.)
        """
        try:
            members, encoded = self.broadcast_plan(name, args, kwargs, receivers)
        except UnknownCallback as exc:
            logger.warning("BROADCAST of %r dropped: %s", name, exc if exc.receiver else "no node offers it any more")
            return
        except UsageError as exc:
            logger.warning("BROADCAST of %r dropped: %s", name, exc)
            return
        for member in members:
            outgoing = RUN_HERE if member.node_id == self.node_id else encoded
            self.send_no_return(member, name, args, kwargs, outgoing, False)

    def broadcast_plan(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], receivers: tuple[str, ...] | None = None
    ) -> tuple[Sequence[Member], Outgoing]:
        """The nodes that offer ``name`` (those named by ``receivers``), and the arguments encoded once for
        all of them but this one.

        Raises:
            UnknownCallback: no node offers ``name``, or one of ``receivers`` is not in the mesh or does not
                offer it.
        """
        if receivers is None:
            members = self.offers.providers(name)
        else:
            members = tuple(self.receiver_member(receiver, name) for receiver in receivers)
        if not members:
            raise self.offers.unknown(name)
        only_here = len(members) == 1 and members[0].node_id == self.node_id
        encoded = RUN_HERE if only_here else self.encode_args(name, args, kwargs)
        self.refuse_streamed(encoded, "BROADCAST")
        return members, encoded


def broadcast_results(members: Sequence[Member], outcomes: Sequence[Any]) -> dict[str, Any]:
    """``{node name: result}`` of a BROADCAST; :class:`BroadcastError` with results and errors if any failed."""
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}
    for member, outcome in zip(members, outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
        if isinstance(outcome, BaseException):
            errors[member.name] = outcome
        else:
            results[member.name] = outcome
    if errors:
        raise BroadcastError(results, errors)
    return results
