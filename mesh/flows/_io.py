"""``IO`` and ``IOVal``: the named streams of values between a flow's processors."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mesh import UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class IOVal(Generic[T]):
    """One value of the IO stream ``name``: what a processor yields and what ``start_flow`` takes."""

    name: str
    value: T


@dataclass(frozen=True)
class Failed:
    """Sent down a stream in place of a value: its producer raised ``error``."""

    error: BaseException


class IO(Generic[T]):
    """A stream of values, read once: ``await io.first()`` or ``async for v in io.stream()``.

    An exception of the processor that produces it is raised here, as its own type, after the
    values yielded before it.
    """

    def __init__(self, name: str, source: AsyncIterable[Any]) -> None:
        self.name = name
        self._source = source
        self._taken = False

    def __repr__(self) -> str:
        return f"IO({self.name!r})"

    def _take(self) -> AsyncIterable[Any]:
        if self._taken:
            raise UsageError(f"IO {self.name!r} is read once: first() or stream() was already called")
        self._taken = True
        return self._source

    async def stream(self) -> AsyncIterator[T]:
        """The values, as they are produced, until the producer ends."""
        try:
            async for item in self._take():
                if isinstance(item, Failed):
                    raise item.error
                yield item
        finally:
            await self.aclose()

    async def first(self) -> T:
        """The first value; the rest are not read (the producer stops sending them here).

        Raises:
            UsageError: the stream ended with no value.
        """
        async for value in self.stream():
            return value
        raise UsageError(f"IO {self.name!r} ended with no value")

    async def aclose(self) -> None:
        """Stop reading: values not taken are dropped and the producer stops sending them here."""
        close = getattr(self._source, "aclose", None)
        if close is not None:
            await close()
