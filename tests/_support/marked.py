"""``Marked``: a value that counts, in each process, how many times it was unpickled there.

A pipeline test makes the items of an edge between two other nodes ``Marked``: if the builder's
``UNPICKLED`` stays 0, none of them passed through the builder.
"""

from __future__ import annotations

from typing import Any

UNPICKLED = [0]


class Marked:
    """A value whose unpickling in a process adds one to that process's ``UNPICKLED``."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickled, (self.value,))


def _unpickled(value: Any) -> Marked:
    UNPICKLED[0] += 1
    return Marked(value)
