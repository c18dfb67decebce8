"""The callbacks this process offers, and the ``@callback`` decorator that fills them in."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from ..errors import UsageError
from ._inject import global_parameter

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
    # The parameter that gets the serving node's Global (mesh.node._inject), if the function has one.
    global_param: str | None = field(default=None, repr=False)
    # An async generator function: it is called on the event loop, and its items taken there.
    yields_async: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.global_param = global_parameter(self.fn)
        self.yields_async = inspect.isasyncgenfunction(_unwrapped(self.fn))

    def arguments_error(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """Say why ``args``/``kwargs`` do not fit the signature, or None when they do."""
        if self.global_param is not None:
            kwargs = {**kwargs, self.global_param: None}
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
        """Offer ``fn`` as ``name``; see :meth:`register_all`."""
        self.register_all([(name, fn)], inline)

    def register_all(self, offers: list[tuple[str, Callable[..., Any]]], inline: bool = False) -> None:
        """Offer each ``(name, fn)`` of ``offers``, all or none.

        Raises:
            UsageError: another function has one of the names (the same function again, or one of
                the same module and qualified name, as when a module is run again, replaces it).
        """
        for name, _ in offers:
            check_name(name)
        entries = [LocalCallback(name, fn, _is_async(fn), inline) for name, fn in offers]
        with self._lock:
            for entry in entries:
                taken = self.taken(entry.name)
                if taken is not None and not _same(taken.fn, entry.fn):
                    raise UsageError(
                        f"a callback named {entry.name!r} is already offered by this process "
                        f"({_where(taken.fn)}); {_where(entry.fn)} cannot take the name too. Rename one of "
                        "them: a name has one callback per process (several processes may offer one name, "
                        "and BROADCAST reaches them all)"
                    )
            for entry in entries:
                self._callbacks[entry.name] = entry
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def taken(self, name: str) -> LocalCallback | None:
        """The callback that holds ``name``, which another function cannot take."""
        return self._callbacks.get(name)

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


def check_name(name: object) -> None:
    """Refuse a callback name that ``g.call`` could not reach: it is Python names joined by dots.

    Raises:
        UsageError: ``name`` is not a string, is empty, or has a part that is not a Python name.
    """
    if not isinstance(name, str):
        raise UsageError(f"a callback name is a string, not {type(name).__name__} {name!r}")
    if not name:
        raise UsageError("a callback name cannot be empty")
    bad = [part for part in name.split(".") if not part.isidentifier()]
    if bad:
        raise UsageError(
            f"callback name {name!r}: {bad[0]!r} is not a Python name; a name is letters, digits and _, "
            "not starting with a digit, and dots join such names (as in 'kv.set', called as g.call.kv.set())"
        )


def _bare(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` without annotations, which may be unevaluated strings."""
    empty = inspect.Parameter.empty
    return signature.replace(
        parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
        return_annotation=empty,
    )


def _origin(fn: Any) -> Any:
    """The plain function behind a bound method or a partial."""
    while True:
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif inspect.ismethod(fn):
            fn = fn.__func__
        else:
            return fn


def _same(old: Callable[..., Any], new: Callable[..., Any]) -> bool:
    """Whether ``new`` is ``old`` again: the same object, or defined at the same place (module run again)."""
    if old is new:
        return True
    old, new = _origin(old), _origin(new)
    key = ("__module__", "__qualname__")
    return all(getattr(old, k, None) == getattr(new, k, None) is not None for k in key)


def _where(fn: Callable[..., Any]) -> str:
    origin = _origin(fn)
    return f"{getattr(origin, '__module__', '?')}.{getattr(origin, '__qualname__', repr(origin))}"


def _unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(_unwrapped(fn))


REGISTRY = CallbackRegistry()


@overload
def callback(target: type[T], *, inline: bool = False, name: str | None = None) -> type[T]: ...


@overload
def callback(target: Callable[..., T], *, inline: bool = False, name: str | None = None) -> Callable[..., T]: ...


@overload
def callback(*, inline: bool = False, name: str | None = None) -> Callable[[D], D]: ...


def callback(target: Any = None, *, inline: bool = False, name: str | None = None) -> Any:
    """Offer a function, or the public methods of a class, to every node of the mesh.

    A function (sync or async) is offered under its ``__name__`` and returned unchanged, so it can
    still be called locally. A sync callback runs in the node's worker threads; an async one on the
    node's event loop. ``@callback(inline=True)`` runs a sync callback on the event loop too, with
    no thread hop: only for short functions that never block, since the node waits for them.

    A class offers its public methods (names not starting with ``_``). Static and class methods
    are offered at once; instance methods once the class's single instance exists. A decorated class
    is a singleton: creating a second instance raises :class:`~mesh.errors.UsageError`.

    ``@callback(name="kv.set")`` offers a function under that name instead, called as
    ``g.call.kv.set(...)``; on a class, ``name="kv"`` offers its methods as ``kv.<method>``. A name
    is Python names joined by dots.

    One name has one callback in a process: a different function under a name already offered is
    refused. Decorating the same function again, or one defined at the same place (a module run
    again, ``importlib.reload``), replaces it.

    Raises:
        UsageError: ``target`` is neither a function nor a class; it is a lambda without ``name``
            or a method in a class body; its name is not a valid name, or is taken by another
            callback of this process.
    """
    if name is not None:
        check_name(name)
    if target is None:
        return functools.partial(callback, inline=inline, name=name)
    if inspect.isclass(target):
        return _offer_class(target, inline, name)
    if isinstance(target, staticmethod | classmethod) or _in_class_body(target):
        qualname = getattr(_origin(getattr(target, "__func__", target)), "__qualname__", "the method")
        qualname = qualname.rpartition("<locals>.")[2]
        owner = qualname.rpartition(".")[0] or "TheClass"
        raise UsageError(
            f"@callback on {qualname!r}, a method in a class body: its class does not exist yet, and a "
            f"method needs its instance. Decorate the class instead (@callback above class {owner}: its "
            "public methods are offered, static and class methods at once, the others once its one "
            "instance is made), or offer a bound method of an instance: callback(instance.method)"
        )
    if not callable(target):
        raise UsageError(f"@callback decorates functions and classes, not {type(target).__name__}")
    if name is None:
        name = getattr(target, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        raise UsageError(
            f"@callback needs a name to offer {target!r} under, and a lambda or partial has none: define "
            "the function with def (its name is the callback's), or give one: @callback(name=...)"
        )
    REGISTRY.register(name, target, inline)
    return target


def _in_class_body(target: Any) -> bool:
    """A plain function whose qualified name says a class defines it (``Cls.method``, not ``f.<locals>.g``)."""
    if not inspect.isfunction(target):
        return False
    outer, _, _ = target.__qualname__.rpartition(".")
    return bool(outer) and not outer.endswith("<locals>")


def _offer_class(cls: type[T], inline: bool, prefix: str | None) -> type[T]:
    instance_methods: list[str] = []
    at_once: list[tuple[str, Callable[..., Any]]] = []
    for name, member in public_members(cls):
        if isinstance(member, staticmethod | classmethod):
            at_once.append((prefixed(prefix, name), getattr(cls, name)))
        elif inspect.isfunction(member):
            instance_methods.append(name)
    REGISTRY.register_all(at_once, inline)

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
        REGISTRY.register_all([(prefixed(prefix, name), getattr(self, name)) for name in instance_methods], inline)
        created = True

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def prefixed(prefix: str | None, name: str) -> str:
    """``name`` under ``prefix``: ``kv.set`` for prefix ``kv``."""
    return name if prefix is None else f"{prefix}.{name}"


def public_members(cls: type) -> list[tuple[str, Any]]:
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):
        for name, member in vars(klass).items():
            if not name.startswith("_"):
                members[name] = member
    return list(members.items())
