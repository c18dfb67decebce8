"""``kv.set(...)``: the call of one set, made by a modifier as any call is; plain BG and NO_RETURN
take the client's pipeline (``_pipeline.py``), the other modifiers the set's own call."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator
from typing import Any

from mesh import BG, NO_RETURN, RemoteCall

from ._pipeline import WritePipeline, WriteResult
from ._values import encode

# The modifiers the pipeline takes: plain BG and NO_RETURN (modifiers are frozen, so they hash).
_PIPELINED = frozenset((BG, BG(), NO_RETURN, NO_RETURN(), BG(return_result=False)))
_RETURNING = frozenset((BG, BG()))


class SetCall:
    """``kv.set(key, value, ttl)``, not made yet: ``& FG`` and every modifier make it, as for any call.

    ``& BG`` gives a :class:`~mesh.services.kv.WriteResult` (an :class:`~mesh.AsyncResult` for a BG
    with options); ``& NO_RETURN`` gives None.
    """

    __slots__ = ("_call", "_key", "_made", "_pipeline", "_ttl", "_value")

    def __init__(
        self, call: Callable[[], RemoteCall], pipeline: WritePipeline, key: str, value: Any, ttl: float | None
    ) -> None:
        self._call, self._pipeline = call, pipeline
        self._key, self._value, self._ttl = key, value, ttl
        self._made = False

    def __repr__(self) -> str:
        return f"<kv.set({self._key!r}, ...)>"

    def __del__(self) -> None:
        if not self._made:
            warnings.warn(
                f"kv.set({self._key!r}, ...) was never made: give it a modifier, such as kv.set(key, value) & FG",
                RuntimeWarning,
                stacklevel=1,
            )

    def __and__(self, modifier: Any) -> Any:
        self._made = True
        if (modifier in (BG, NO_RETURN) or type(modifier) in (BG, NO_RETURN)) and modifier in _PIPELINED:
            result = WriteResult() if modifier in _RETURNING else None
            self._pipeline.add(self._key, encode(self._key, self._value), self._ttl, result)
            return result
        return self.call() & modifier

    def __await__(self) -> Generator[Any, None, Any]:
        self._made = True
        return self.call().__await__()

    def call(self) -> RemoteCall:
        """The set's own call (``kv.set``), after what waits in the pipeline: for a modifier or method
        of :class:`~mesh.RemoteCall` that the pipeline does not take."""
        self._made = True
        self._pipeline.flush()
        return self._call()

    def bg(self, timeout: float | None = None, **options: Any) -> Any:
        """Same as ``& BG(timeout=timeout, ...)``."""
        return self & BG(timeout, **options)

    def no_return(self, **options: Any) -> None:
        """Same as ``& NO_RETURN(...)``."""
        self & NO_RETURN(**options)

    def fg(self, **options: Any) -> Any:
        """Same as ``& FG(...)``."""
        return self.call().fg(**options)
