"""The plugin registry: interfaces (``@define_interface``), their plugins by name (``@register_plugin``),
third-party plugins found through the ``grpcmesh.plugins`` entry-point group, and ``PluginFactory``."""

from __future__ import annotations

import difflib
import inspect
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from mesh import BadArguments, UsageError

ENTRY_POINT_GROUP = "grpcmesh.plugins"
"""The entry-point group whose modules are imported for their plugins."""

C = TypeVar("C", bound=type)

_plugins: dict[type, dict[str, type]] = {}
_lock = threading.Lock()
_entry_points_loaded = False
# Re-entrant: a plugin module may look plugins up while it is imported.
_loading = threading.RLock()


def define_interface(cls: C) -> C:
    """Mark the abstract class ``cls`` as an interface: a contract that plugins implement, each under a name."""
    if not inspect.isclass(cls):
        raise UsageError(f"@define_interface decorates a class, not {cls!r}")
    with _lock:
        _plugins.setdefault(cls, {})
    return cls


def register_plugin(interface: type, name: str) -> Callable[[C], C]:
    """Register the decorated class as the plugin ``name`` of ``interface``.

    Registering a name again replaces the plugin it named: an application (or a third-party package)
    may put its own ``storage_write`` in place of the built-in one.

    Raises:
        UsageError: ``interface`` was not defined with ``@define_interface``, ``name`` is not a
            non-empty ``str``, or the class does not subclass ``interface``.
    """
    _check_interface(interface)
    if not isinstance(name, str) or not name:
        raise UsageError(f"a plugin's name is a non-empty str, not {name!r}")

    def register(cls: C) -> C:
        if not (inspect.isclass(cls) and issubclass(cls, interface)):
            raise UsageError(f"the plugin {name!r} ({cls!r}) does not subclass the interface {interface.__name__}")
        with _lock:
            _plugins[interface][name] = cls
        return cls

    return register


def _check_interface(interface: object) -> None:
    if not isinstance(interface, type) or interface not in _plugins:
        raise UsageError(f"{interface!r} is not an interface: decorate its class with @define_interface")


def load_entry_points() -> None:
    """Import the modules of the ``grpcmesh.plugins`` entry points (once per process, after they all
    loaded): their ``@register_plugin`` classes join the registry.

    Raises:
        UsageError: an entry point failed to load, naming it and its distribution (the cause chained);
            raised again at each lookup until it loads.
    """
    global _entry_points_loaded
    with _loading:
        if _entry_points_loaded:
            return
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                point.load()
            except Exception as error:
                owner = point.dist.name if point.dist is not None else "an unknown distribution"
                raise UsageError(
                    f"the plugin entry point {point.name} = {point.value} (of {owner}) failed to load: {error!r}"
                ) from error
        _entry_points_loaded = True


class PluginFactory:
    """Makes plugins by name: ``PluginFactory.get(StorageInterface, "local", root="/srv")``."""

    @staticmethod
    def names(interface: type) -> list[str]:
        """The names of ``interface``'s plugins, the entry points' included, sorted."""
        _check_interface(interface)
        load_entry_points()
        with _lock:
            return sorted(_plugins[interface])

    @staticmethod
    def plugin(interface: type, name: str, /) -> type:
        """The class registered as ``interface``'s plugin ``name``.

        Raises:
            UsageError: no plugin of that name, listing the known ones.
        """
        _check_interface(interface)
        load_entry_points()
        with _lock:
            found = _plugins[interface].get(name)
            known = sorted(_plugins[interface])
        if found is None:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            listed = ", ".join(known) or "none"
            raise UsageError(f"no {interface.__name__} plugin is named {name!r}; the known ones: {listed}{hint}")
        return found

    @staticmethod
    def get(interface: type, name: str, /, **config: Any) -> Any:
        """A new instance of ``interface``'s plugin ``name``, made with ``config`` as keyword arguments.

        Raises:
            UsageError: no plugin of that name, listing the known ones.
            BadArguments: ``config`` misses what the plugin needs or has what it does not take, naming both.
        """
        cls = PluginFactory.plugin(interface, name)
        signature = inspect.signature(cls)
        try:
            signature.bind(**config)
        except TypeError as error:
            given = ", ".join(sorted(config)) or "nothing"
            raise BadArguments(
                f"the {interface.__name__} plugin {name!r} cannot be configured with {given}: {error}; "
                f"it takes {_parameters(signature)}"
            ) from None
        return cls(**config)


def _parameters(signature: inspect.Signature) -> str:
    """``bucket, endpoint=None`` for the plugin's config, or ``nothing``."""
    shown = [str(p.replace(annotation=inspect.Parameter.empty)) for p in signature.parameters.values()]
    return ", ".join(shown) or "nothing"
