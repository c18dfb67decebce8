"""Retry delays: exponential backoff with jitter, shared by every loop that tries again.

Jitter matters when many nodes retry at once (a herd starting together, or every node of a mesh
rejoining a restarted controller): without it they all knock again in the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays that double from ``first`` up to ``most``, each drawn at random from its upper half.

    ``next()`` gives the delay before the next attempt; ``reset()`` starts over after a success.
    """

    first: float
    most: float
    _ceiling: float = field(init=False)

    def __post_init__(self) -> None:
        self._ceiling = self.first

    def next(self) -> float:
        ceiling = self._ceiling
        self._ceiling = min(ceiling * 2, self.most)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._ceiling = self.first
