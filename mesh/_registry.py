"""The callbacks this process offers, and the ``@callback`` decorator that fills them in."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from .errors import UsageError

T = TypeVar("T")
D = TypeVar("D")


@dataclass(slots=True)
class LocalCallback:
    """One function this process offers under ``name``."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    inline: bool = False
    _signature: inspect.Signature | None = field(default=None, repr=False)

    def arguments_error(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """Say why ``args``/``kwargs`` do not fit the signature, or None when they do."""
        if self._signature is None:
            try:
                self._signature = inspect.signature(self.fn)
            except (TypeError, ValueError):
                return None
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            return f"callback {self.name!r}{_bare(self._signature)}: {exc}"
        return None


class CallbackRegistry:
    """Name -> :class:`LocalCallback`, shared by every node of the process.

    Listeners are told (from whatever thread changed the registry) when the set of names changes,
    so live nodes can tell the mesh.
    """

    def __init__(self) -> None:
        self._callbacks: dict[str, LocalCallback] = {}
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def register(self, name: str, fn: Callable[..., Any], inline: bool = False) -> None:
        entry = LocalCallback(name, fn, _is_async(fn), inline)
        with self._lock:
            self._callbacks[name] = entry
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def unregister(self, name: str) -> None:
        with self._lock:
            removed = self._callbacks.pop(name, None)
            listeners = list(self._listeners)
        if removed is not None:
            for listener in listeners:
                listener()

    def get(self, name: str) -> LocalCallback | None:
        return self._callbacks.get(name)

    def names(self) -> list[str]:
        return sorted(self._callbacks)

    def add_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)


def _bare(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` without annotations, which may be unevaluated strings."""
    empty = inspect.Parameter.empty
    return signature.replace(
        parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
        return_annotation=empty,
    )


def _is_async(fn: Callable[..., Any]) -> bool:
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    return inspect.iscoroutinefunction(target)


REGISTRY = CallbackRegistry()


@overload
def callback(target: type[T], *, inline: bool = False) -> type[T]: ...


@overload
def callback(target: Callable[..., T], *, inline: bool = False) -> Callable[..., T]: ...


@overload
def callback(*, inline: bool) -> Callable[[D], D]: ...


def callback(target: Any = None, *, inline: bool = False) -> Any:
    """Offer a function, or the public methods of a class, to every node of the mesh.

    A function (sync or async) is offered under its ``__name__`` and returned unchanged, so it can
    still be called locally. A sync callback runs in the node's worker threads; an async one on the
    node's event loop. ``@callback(inline=True)`` runs a sync callback on the event loop too, with
    no thread hop: only for short functions that never block, since the node waits for them.

    A class offers its public methods (names not starting with ``_``). Static and class methods
    are offered at once; instance methods once the class's single instance exists. A decorated class
    is a singleton: creating a second instance raises :class:`~mesh.errors.UsageError`.

    Raises:
        UsageError: ``target`` is neither a function nor a class.
    """
    if target is None:
        return functools.partial(callback, inline=inline)
    if inspect.isclass(target):
        return _offer_class(target, inline)
    if callable(target):
        REGISTRY.register(target.__name__, target, inline)
        return target
    raise UsageError(f"@callback decorates functions and classes, not {type(target).__name__}")


def _offer_class(cls: type[T], inline: bool) -> type[T]:
    instance_methods: list[str] = []
    for name, member in _public_members(cls):
        if isinstance(member, staticmethod | classmethod):
            REGISTRY.register(name, getattr(cls, name), inline)
        elif inspect.isfunction(member):
            instance_methods.append(name)

    original_init = cls.__init__
    created = False

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        nonlocal created
        if created:
            raise UsageError(
                f"{cls.__qualname__} is a @callback class and so a singleton: "
                "its methods are already offered by the one instance created before"
            )
        original_init(self, *args, **kwargs)
        created = True
        for method_name in instance_methods:
            REGISTRY.register(method_name, getattr(self, method_name), inline)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def _public_members(cls: type) -> list[tuple[str, Any]]:
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):
        for name, member in vars(klass).items():
            if not name.startswith("_"):
                members[name] = member
    return list(members.items())
