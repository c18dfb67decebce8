"""The ``receiver`` and ``receivers`` options of the modifiers: names of nodes, checked when a modifier is made."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageError


def receiver_name(receiver: object, modifier: str) -> str | None:
    """``receiver`` itself, once checked to be None or a node's name.

    Raises:
        UsageError: it is not a non-empty ``str``.
    """
    if receiver is None or (isinstance(receiver, str) and receiver):
        return receiver
    raise UsageError(f"{modifier} receiver must be the name of a node (a non-empty str), not {receiver!r}")


def receiver_names(receivers: object, modifier: str) -> tuple[str, ...] | None:
    """``receivers`` as a tuple of node names without repeats (in their order), or None for all.

    Raises:
        UsageError: it is a single ``str``, not a sequence, empty, or holds something else than names.
    """
    if receivers is None:
        return None
    if isinstance(receivers, str):
        raise UsageError(f"{modifier} receivers takes a list of node names, not one str: receivers=[{receivers!r}]")
    if not isinstance(receivers, Sequence | set | frozenset):
        raise UsageError(f"{modifier} receivers must be a list of node names, not {receivers!r}")
    names = tuple(dict.fromkeys(receivers))
    if not names:
        raise UsageError(f"{modifier} receivers names no node; give at least one, or leave it out to call all")
    for name in names:
        if not (isinstance(name, str) and name):
            raise UsageError(f"{modifier} receivers must be the names of nodes (non-empty strs), not {name!r}")
    return names
