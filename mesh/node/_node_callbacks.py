"""The callbacks one node offers: its own (``g.register``) over the process's (``@callback``).

A callback registered on one ``Global`` is offered and served by that Global's node only, so two
nodes of one process can offer different services; ``@callback`` keeps offering to every node.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ._registry import CallbackRegistry, LocalCallback, check_name, prefixed, public_members


class NodeCallbacks(CallbackRegistry):
    """A node's own callbacks, looked up before those of ``shared`` (the process's registry).

    Its listeners hear of changes to either, so the node tells the mesh of both at once.
    """

    def __init__(self, shared: CallbackRegistry) -> None:
        super().__init__()
        self._shared = shared

    def get(self, name: str) -> LocalCallback | None:
        return self._callbacks.get(name) or self._shared.get(name)

    def names(self) -> list[str]:
        return sorted({*self._callbacks, *self._shared.names()})

    def taken(self, name: str) -> LocalCallback | None:
        return self.get(name)

    def add_listener(self, listener: Callable[[], None]) -> None:
        super().add_listener(listener)
        self._shared.add_listener(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        super().remove_listener(listener)
        self._shared.remove_listener(listener)

    def offer(self, target: Any, name: str | None = None, prefix: str | None = None, inline: bool = False) -> list[str]:
        """Offer a function (as ``name``, or its own name) or an instance's public methods; return the names.

        ``prefix`` puts the names under it: ``prefix="kv"`` offers method ``set`` as ``kv.set``.

        Raises:
            UsageError: ``target`` is a class, or an instance given a ``name``, or has no public
                method; a name is not valid, or is taken by another callback of this node or process.
        """
        if prefix is not None:
            check_name(prefix)
        if inspect.isclass(target):
            raise UsageError(
                f"register an instance of {target.__qualname__}, not the class: its methods need an instance "
                f"(g.register({target.__qualname__}(), prefix=...))"
            )
        if _is_function(target):
            if name is None:
                name = getattr(target, "__name__", None)
            if not isinstance(name, str) or name == "<lambda>":
                raise UsageError(f"g.register needs a name to offer {target!r} under: g.register(fn, name=...)")
            offers = [(prefixed(prefix, name), target)]
        else:
            if name is not None:
                raise UsageError(
                    f"name= names one function, and {type(target).__qualname__} is an instance, whose methods "
                    "keep their names: give prefix= to put them under one (prefix='kv' offers kv.<method>)"
                )
            offers = [
                (prefixed(prefix, method), getattr(target, method))
                for method, member in public_members(type(target))
                if isinstance(member, staticmethod | classmethod) or inspect.isfunction(member)
            ]
            if not offers:
                raise UsageError(f"{type(target).__qualname__} instance has no public method to offer")
        self.register_all(offers, inline)
        return sorted(offered for offered, _ in offers)

    def withdraw(self, target: Any) -> list[str]:
        """Stop offering ``target``: a name, a prefix (every ``prefix.*``), a function or an instance.

        Returns the names withdrawn.

        Raises:
            UsageError: nothing this node registered matches ``target``.
        """
        with self._lock:
            if isinstance(target, str):
                names = [n for n in self._callbacks if n == target or n.startswith(f"{target}.")]
            else:
                names = [n for n, entry in self._callbacks.items() if _belongs(entry.fn, target)]
        if not names:
            shared = isinstance(target, str) and self._shared.get(target) is not None
            raise UsageError(
                f"g.unregister({target!r}): this node registered no such callback"
                + (" (it is a @callback of the whole process, offered by every node)" if shared else "")
            )
        for name in names:
            self.unregister(name)
        return sorted(names)


def _is_function(target: Any) -> bool:
    return inspect.isroutine(target) or isinstance(target, functools.partial)


def _belongs(fn: Callable[..., Any], target: Any) -> bool:
    """Whether the registered ``fn`` is ``target`` or a method bound to it."""
    return fn is target or getattr(fn, "__self__", None) is target or (_is_function(target) and fn == target)
