"""``kv.set(...)``: the call of one set, made by a modifier as any call is; plain BG and NO_RETURN
take the client's pipeline (``_pipeline.py``), the other modifiers the set's own call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mesh import BG, NO_RETURN, RemoteCall

from .._call import NOT_TAKEN, ServiceCall
from ._pipeline import WritePipeline, WriteResult
from ._values import encode

# The modifiers the pipeline takes: plain BG and NO_RETURN (modifiers are frozen, so they hash).
_PIPELINED = frozenset((BG, BG(), NO_RETURN, NO_RETURN(), BG(return_result=False)))
_RETURNING = frozenset((BG, BG()))


class SetCall(ServiceCall):
    """``kv.set(key, value, ttl)``, not made yet: ``& FG`` and every modifier make it, as for any call.

    ``& BG`` gives a :class:`~mesh.services.kv.WriteResult` (an :class:`~mesh.AsyncResult` for a BG
    with options); ``& NO_RETURN`` gives None.
    """

    __slots__ = ("_key", "_pipeline", "_ttl", "_value")

    def __init__(
        self, call: Callable[[], RemoteCall], pipeline: WritePipeline, key: str, value: Any, ttl: float | None
    ) -> None:
        super().__init__("kv.set", call)
        self._pipeline = pipeline
        self._key, self._value, self._ttl = key, value, ttl

    def _take(self, modifier: Any) -> Any:
        if (modifier in (BG, NO_RETURN) or type(modifier) in (BG, NO_RETURN)) and modifier in _PIPELINED:
            result = WriteResult() if modifier in _RETURNING else None
            self._pipeline.add(self._key, encode(self._key, self._value), self._ttl, result)
            return result
        return NOT_TAKEN

    def remote(self) -> RemoteCall:
        """The set's own call (``kv.set``), after what waits in the pipeline: for a modifier or method
        the pipeline does not take."""
        self._pipeline.flush()
        return super().remote()
