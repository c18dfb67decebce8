"""Which of the nodes offering a callback a call goes to, when the call names no receiver."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from ..membership._membership import Member
from ..wire._link import PeerLink

# The ways to choose (NodeConfig.choice): the fewest calls in flight, ties at random; or at random.
LEAST_BUSY = "least_busy"
RANDOM = "random"
CHOICES = (LEAST_BUSY, RANDOM)


def least_busy(members: Sequence[Member], links: Mapping[str, PeerLink], own_id: str, own_calls: int) -> Member:
    """The member of ``members`` with the fewest calls in flight, ties at random (one pass, reservoir-style).

    A member's calls in flight are those on its link (:attr:`PeerLink.in_flight`: sent to it and not yet
    answered, plus received from it and still running); this node's (``own_id``) are ``own_calls``, its
    own callbacks running here for it; a member with no link yet has none.
    """
    best = members[0]
    fewest = -1
    ties = 0
    for member in members:
        link = links.get(member.node_id)
        if link is not None:
            count = link.in_flight
        elif member.node_id == own_id:
            count = own_calls
        else:
            count = 0
        if fewest < 0 or count < fewest:
            best, fewest, ties = member, count, 1
        elif count == fewest:
            ties += 1
            if random.randrange(ties) == 0:
                best = member
    return best
