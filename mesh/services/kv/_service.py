"""``KVService``: the callbacks of the kv service, over a backend.

Register it on the node that hosts the service: ``g.register(KVService(backend), prefix="kv")``
offers ``kv.set``, ``kv.get``, ... from that node only. Every callback is async: it waits on the
event loop for its backend (a SQLite commit, a Redis answer), so thousands of calls can wait at once
without holding a worker thread each, and a flood of writes shares commits.
"""

from __future__ import annotations

import pickle
from typing import Any

from ._values import MISSING, check_amount, check_encoded, check_items, check_key, check_list, check_ttl, decode, encode
from ._watchers import Watch
from .backends import Backend


class KVService:
    """The kv callbacks over ``backend``; their clients call them through :class:`~mesh.services.KV`."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` (for ``ttl`` seconds, or until changed or deleted)."""
        await self._backend.set([(check_key(key), encode(key, value))], check_ttl(ttl))

    async def set_many(self, items: list[tuple[str, Any]], ttl: float | None = None) -> None:
        """Store each ``(key, value)`` of ``items``, in their order, in one write: all or none."""
        ttl = check_ttl(ttl)
        await self._backend.set([(key, encode(key, value)) for key, value in check_items(items)], ttl)

    async def set_encoded(self, items: list[tuple[str, bytes]], ttl: float | None = None) -> None:
        """Store each ``(key, data)`` of ``items``, ``data`` a value as the client encoded it: the sets
        of a :class:`~mesh.services.KV` client's pipeline, in one write."""
        ttl = check_ttl(ttl)
        await self._backend.set([(key, check_encoded(key, data)) for key, data in check_items(items)], ttl)

    async def get(self, key: str, default: Any = MISSING) -> Any:
        """The value of ``key``; ``default`` when it is missing, else :class:`KeyError`."""
        data = (await self._backend.get([check_key(key)]))[0]
        if data is not None:
            return decode(data)
        if default is MISSING:
            raise KeyError(key)
        return default

    async def get_many(self, keys: list[str], default: Any = MISSING) -> dict[str, Any]:
        """The value of each of ``keys`` that is there, by key; with ``default``, the missing ones too."""
        keys = [check_key(key) for key in check_list(keys, "keys")]
        found: dict[str, Any] = {}
        for key, data in zip(keys, await self._backend.get(keys), strict=True):
            if data is not None:
                found[key] = decode(data)
            elif default is not MISSING:
                found[key] = default
        return found

    async def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there."""
        return await self._backend.delete(check_key(key))

    async def keys(self, prefix: str = "") -> list[str]:
        """The keys that start with ``prefix``, sorted."""
        return await self._backend.keys(check_key(prefix))

    async def incr(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` to the int under ``key`` (a missing key counts as 0); the new value."""
        check_amount(amount)

        def add(data: bytes | None) -> tuple[bytes, int]:
            current = 0 if data is None else decode(data)
            if isinstance(current, bool) or not isinstance(current, int):
                raise TypeError(f"kv.incr: the value of {key!r} is a {type(current).__qualname__}, not an int")
            total = current + amount
            return encode(key, total), total

        total: int = await self._backend.update(check_key(key), add)
        return total

    async def cas(self, key: str, expected: Any, new: Any) -> bool:
        """Set ``key`` to ``new`` if its value equals ``expected`` (a missing key equals None); whether it did."""
        stored = encode(key, new)

        def swap(data: bytes | None) -> tuple[bytes | None, bool]:
            current = None if data is None else decode(data)
            if current is expected or _equal(current, expected):
                return stored, True
            return None, False

        swapped: bool = await self._backend.update(check_key(key), swap)
        return swapped

    async def watch(self, prefix: str = "") -> Watch:
        """The changes of the keys under ``prefix`` from now on, as a stream of
        :class:`~mesh.services.Change`: call it with STREAM."""
        return await self._backend.watch(check_key(prefix))


def _equal(current: Any, expected: Any) -> bool:
    """``current == expected`` as a plain truth, or their pickles' equality where ``==`` says no more
    (an array's elementwise answer, an error)."""
    try:
        return bool(current == expected)
    except Exception:
        return pickle.dumps(current) == pickle.dumps(expected)
