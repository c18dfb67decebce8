"""``Depends``: a processor parameter resolved by calling a function, FastAPI style."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mesh import UsageError


class Depends:
    """``Annotated[int, Depends(get_multiplier)]``: the parameter gets what ``dependency()`` returns
    (awaited when it returns an awaitable), called on the node that runs the processor."""

    def __init__(self, dependency: Callable[[], Any]) -> None:
        if not callable(dependency):
            raise UsageError(f"Depends takes a function, not {dependency!r}")
        self.dependency = dependency

    def __repr__(self) -> str:
        return f"Depends({getattr(self.dependency, '__name__', self.dependency)!r})"

    async def resolve(self) -> Any:
        """Call the dependency (awaiting its result when it is awaitable)."""
        value = self.dependency()
        if inspect.isawaitable(value):
            value = await value
        return value
