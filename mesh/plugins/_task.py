"""``Task`` and ``Behavior``: a function wrapped in a chain of behaviours, each a plugin that calls
``next_fn`` (the rest of the chain) when and where it chooses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mesh import UsageError

from ._registry import PluginFactory, define_interface


@define_interface
class Behavior(ABC):
    """A step of a :class:`Task`: a plugin whose ``execute`` receives ``next_fn``, the rest of the chain.

    ``self.config`` holds the keywords ``add_behavior`` was given, a fresh copy for each run: a
    behaviour may ``pop`` from it.
    """

    def __init__(self, **config: Any) -> None:
        self.config: dict[str, Any] = config

    @abstractmethod
    def execute(self, next_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Do this step's work and call ``next_fn`` (or hand it on, to run later or elsewhere)."""


@dataclass(frozen=True)
class Chain:
    """The rest of a task: its behaviours still to run, then its function. Calling it runs them.

    It pickles when the function and the configs do, so a job plugin may send it to another node.
    """

    fn: Callable[..., Any]
    steps: tuple[tuple[type, str, dict[str, Any]], ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.steps:
            return self.fn(*args, **kwargs)
        (interface, name, config), rest = self.steps[0], self.steps[1:]
        behavior = PluginFactory.get(interface, name, **dict(config))
        return behavior.execute(Chain(self.fn, rest), *args, **kwargs)


class Task:
    """A function and the behaviours that run before it, in the order they were added::

    Task(finalize).add_behavior(Behavior, plugin="storage_write", backend="local", root="/srv")
                  .add_behavior(Behavior, plugin="schedule_job", job_type="in_memory")
                  .submit(path="a.bin", data=b"...")
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise UsageError(f"a Task wraps a callable, not {fn!r}")
        self.fn = fn
        self._steps: list[tuple[type, str, dict[str, Any]]] = []

    def add_behavior(self, interface: type, /, plugin: str, **config: Any) -> Task:
        """Add the behaviour ``plugin`` of ``interface`` (:class:`Behavior` or a subclass), configured
        with ``config``, after those added before; returns the task.

        Raises:
            UsageError: ``interface`` is not :class:`Behavior` or a subclass, or it has no plugin of that
                name (listing the known ones).
        """
        if not (isinstance(interface, type) and issubclass(interface, Behavior)):
            raise UsageError(f"add_behavior takes Behavior (or an interface subclassing it), not {interface!r}")
        PluginFactory.plugin(interface, plugin)
        self._steps.append((interface, plugin, config))
        return self

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """Run the chain with these arguments: the first behaviour's ``execute`` gets them, with
        ``next_fn``; the answer is what it returns."""
        return Chain(self.fn, tuple(self._steps))(*args, **kwargs)
