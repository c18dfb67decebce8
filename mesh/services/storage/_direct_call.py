"""What ``st.get``, ``st.get_stream`` and ``st.put`` return: a call that one modifier (FG, or STREAM for
``get_stream``) may carry out around the mesh's data path, and every other one as the remote call it is."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Generator, Iterator
from types import TracebackType
from typing import Any

from mesh import FG, STREAM, RemoteCall

FALLBACK: Any = object()
"""What a way around returns when it cannot be taken from here: the call then goes through the mesh."""


class DirectCall:
    """A storage call, carried out by ``& MODIFIER`` or a method, as :class:`~mesh.RemoteCall`.

    In sync code, ``& FG`` (``& STREAM`` for ``get_stream``) first tries ``direct(modifier)``, which
    reaches the object without the mesh's data path where it can, and returns :data:`FALLBACK` where
    it cannot; every other modifier, and async code, makes ``remote()``, the call through the mesh.
    """

    __slots__ = ("_direct", "_kind", "_made", "_remote", "name")

    def __init__(
        self,
        name: str,
        remote: Callable[[], RemoteCall],
        kind: type[FG] | type[STREAM],
        direct: Callable[[Any], Any] | None,
    ) -> None:
        self.name = name
        self._remote = remote
        self._kind = kind
        self._direct = direct
        self._made = False

    def __repr__(self) -> str:
        return f"<storage call {self.name}(...)>"

    def __del__(self) -> None:
        if not self._made:
            warnings.warn(
                f"storage call {self.name}(...) was never made: give it a modifier, such as & FG",
                RuntimeWarning,
                stacklevel=1,
            )

    def __and__(self, modifier: Any) -> Any:
        self._made = True
        taken = modifier() if modifier is self._kind else modifier
        if self._direct is not None and isinstance(taken, self._kind) and not _in_async_code():
            outcome = self._direct(taken)
            if outcome is not FALLBACK:
                return outcome
        return self._remote() & taken

    def __await__(self) -> Generator[Any, None, Any]:
        self._made = True
        return self._remote().__await__()

    def fg(self, timeout: Any = None, receiver: str | None = None) -> Any:
        """Same as ``& FG(timeout=timeout, receiver=receiver)``."""
        return self & FG(timeout, receiver)

    def __getattr__(self, name: str) -> Any:
        # bg, no_return, period, broadcast and stream: always through the mesh.
        if name.startswith("_"):
            raise AttributeError(name)
        self._made = True
        return getattr(self._remote(), name)


class LocalStream:
    """The chunks of a ``get_stream`` read around the mesh, as :class:`~mesh.Stream` gives them: iterated
    once with ``for``; leaving the loop, :meth:`close` or the ``with`` block's end closes the source."""

    __slots__ = ("_items", "name")

    def __init__(self, name: str, items: Iterator[bytes]) -> None:
        self.name = name
        self._items = items

    def __repr__(self) -> str:
        return f"<Stream of {self.name!r} around the mesh>"

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._items
        finally:
            self.close()

    def close(self) -> None:
        """Close the file or the HTTP response the chunks come from."""
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> LocalStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _in_async_code() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
