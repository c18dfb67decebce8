"""``Processor``: a named step with named inputs and outputs, implemented by an async generator."""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any, cast

from mesh import UsageError

from ._depends import Depends
from ._io import IO, IOVal

Implementation = Callable[..., AsyncIterator[IOVal[Any]]]

IMPLEMENTED: dict[str, Processor] = {}
"""The processors implemented in this process, by name."""
ON_IMPLEMENTED: list[Callable[[Processor], None]] = []
"""Called with each processor implemented from now on (the Supervisor offers it on the mesh)."""


def _names(kind: str, names: Iterable[str], processor: str) -> tuple[str, ...]:
    if isinstance(names, str):
        raise UsageError(f"processor {processor!r}: {kind} is a list of names, not the string {names!r}")
    result = tuple(names)
    for name in result:
        if not isinstance(name, str) or not name:
            raise UsageError(f"processor {processor!r}: each of its {kind} is a non-empty str, not {name!r}")
    if len(set(result)) != len(result):
        raise UsageError(f"processor {processor!r}: its {kind} {list(result)} repeat a name")
    return result


class Processor:
    """A step of a flow: ``Processor(name="foobar", inputs=["foo"], outputs=["bar"])``.

    Decorate an async generator with it to implement it in this process; its parameters are its
    inputs (``foo: IO[int]``, by name) and dependencies (``Annotated[int, Depends(fn)]``), and it
    yields ``IOVal(name=output, value=...)``. A process that only declares it can still start
    flows with it: the Supervisor calls it on a node of the mesh that implements it.
    """

    def __init__(self, name: str, inputs: Iterable[str], outputs: Iterable[str]) -> None:
        if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
            raise UsageError(f"a processor's name is a dotted identifier such as 'foobar', not {name!r}")
        self.name = name
        self.inputs = _names("inputs", inputs, name)
        self.outputs = _names("outputs", outputs, name)
        if not self.outputs:
            raise UsageError(f"processor {name!r} has no outputs")
        both = set(self.inputs) & set(self.outputs)
        if both:
            raise UsageError(f"processor {name!r} reads and writes {sorted(both)}: a processor cannot feed itself")
        self.implementation: Implementation | None = None
        self._depends: dict[str, Depends] = {}

    def __repr__(self) -> str:
        return f"Processor({self.name!r}, inputs={list(self.inputs)}, outputs={list(self.outputs)})"

    def __call__(self, fn: Implementation) -> Implementation:
        """Implement this processor with ``fn`` (an async generator function); returns ``fn``.

        Raises:
            UsageError: ``fn`` is not an async generator function, lacks a parameter for an
                input, or has a parameter that is neither an input nor a ``Depends``.
        """
        if not inspect.isasyncgenfunction(fn):
            raise UsageError(f"processor {self.name!r} is implemented by an async generator function, not {fn!r}")
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except NameError as error:
            raise UsageError(
                f"processor {self.name!r}: the annotations of {fn.__name__} name what its module does not define "
                f"({error}); under `from __future__ import annotations` define its dependencies at module level"
            ) from error
        depends: dict[str, Depends] = {}
        params = inspect.signature(fn).parameters
        for param in params.values():
            if param.name in self.inputs:
                continue
            found = [m for m in getattr(hints.get(param.name), "__metadata__", ()) if isinstance(m, Depends)]
            if not found:
                raise UsageError(
                    f"processor {self.name!r}: parameter {param.name!r} of {fn.__name__} is neither one of its "
                    f"inputs {list(self.inputs)} nor Annotated with Depends(...)"
                )
            depends[param.name] = found[0]
        missing = [name for name in self.inputs if name not in params]
        if missing:
            raise UsageError(f"processor {self.name!r}: {fn.__name__} has no parameter for its inputs {missing}")
        if self.implementation is not None:
            raise UsageError(f"processor {self.name!r} is implemented already, by {self.implementation.__name__}")
        if IMPLEMENTED.setdefault(self.name, self) is not self:
            raise UsageError(f"processor {self.name!r} is implemented already in this process, by another Processor")
        self._depends = depends
        self.implementation = fn
        for hook in ON_IMPLEMENTED:
            hook(self)
        return fn

    async def run(self, inputs: dict[str, IO[Any]]) -> AsyncGenerator[IOVal[Any], None]:
        """Run the implementation on ``inputs`` (its dependencies resolved here) and yield what it
        yields, each checked to be one of its outputs."""
        if self.implementation is None:
            raise UsageError(f"processor {self.name!r} has no implementation in this process")
        kwargs: dict[str, Any] = dict(inputs)
        for param, depends in self._depends.items():
            kwargs[param] = await depends.resolve()
        # __call__ took only async generator functions.
        generator = cast(AsyncGenerator[IOVal[Any], None], self.implementation(**kwargs))
        try:
            async for item in generator:
                yield check_item(self, item)
        finally:
            await generator.aclose()


def check_item(processor: Processor, item: Any) -> IOVal[Any]:
    """``item``, if it is an IOVal named one of ``processor``'s outputs.

    Raises:
        UsageError: it is not.
    """
    if not isinstance(item, IOVal) or item.name not in processor.outputs:
        raise UsageError(
            f"processor {processor.name!r} yielded {item!r}: it yields IOVal(name=..., value=...) "
            f"named one of its outputs {list(processor.outputs)}"
        )
    return item
