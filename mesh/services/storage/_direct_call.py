"""What ``st.get``, ``st.get_stream`` and ``st.put`` return: a call that one modifier (FG, or STREAM for
``get_stream``) may carry out around the mesh's data path, and every other one as the remote call it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from mesh import FG, STREAM, RemoteCall

from .._call import NOT_TAKEN, ServiceCall, in_async_code

FALLBACK: Any = object()
"""What a way around returns when it cannot be taken from here: the call then goes through the mesh."""


class DirectCall(ServiceCall):
    """A storage call, carried out by ``& MODIFIER`` or a method, as :class:`~mesh.RemoteCall`.

    In sync code, ``& FG`` (``& STREAM`` for ``get_stream``) first tries ``direct(modifier)``, which
    reaches the object without the mesh's data path where it can, and returns :data:`FALLBACK` where
    it cannot; every other modifier, and async code, makes ``remote()``, the call through the mesh.
    """

    __slots__ = ("_direct", "_kind")

    def __init__(
        self,
        name: str,
        remote: Callable[[], RemoteCall],
        kind: type[FG] | type[STREAM],
        direct: Callable[[Any], Any] | None,
    ) -> None:
        super().__init__(name, remote)
        self._kind = kind
        self._direct = direct

    def _take(self, modifier: Any) -> Any:
        taken = modifier() if modifier is self._kind else modifier
        if self._direct is not None and isinstance(taken, self._kind) and not in_async_code():
            outcome = self._direct(taken)
            if outcome is not FALLBACK:
                return outcome
        return NOT_TAKEN


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
