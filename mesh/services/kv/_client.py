"""``KV``: the client of the kv service. Its methods return calls, so every modifier applies."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from mesh import BG, Global, RemoteCall, UsageError

from ._pipeline import WritePipeline
from ._set_call import SetCall
from ._values import MISSING, check_amount, check_items, check_key, check_list, check_ttl


class KV:
    """The kv service of ``g``'s mesh, under ``prefix`` (``"kv"``: the callbacks ``kv.set``, ...).

    Each method checks its arguments and returns the call, made by a modifier::

        kv = KV(g)
        kv.set("user:1", {"name": "Ada"}) & FG
        kv.get("user:1") & FG                      # {'name': 'Ada'}
        kv.set_many({"a": 1, "b": 2}) & BG         # one call, one commit
        kv.get_many(["a", "b", "c"]) & FG          # {'a': 1, 'b': 2}
        kv.incr("visits") & NO_RETURN
        for change in kv.watch("user:") & STREAM:
            print(change.key, change.value)

    Raises:
        UsageError: ``prefix`` is not a dotted name; and from each method, before any call, a key or
            prefix that is not a ``str``, a ttl that is not a positive number, an amount that is not an int.
    """

    def __init__(self, g: Global, prefix: str = "kv") -> None:
        parts = check_key(prefix).split(".")
        if not all(part.isidentifier() for part in parts):
            raise UsageError(f"KV prefix is a dotted name such as 'kv' or 'cache.kv', not {prefix!r}")
        remote: Any = g.call
        for part in parts:
            remote = getattr(remote, part)
        self._set, self._get, self._delete = remote.set, remote.get, remote.delete
        self._set_many, self._get_many = remote.set_many, remote.get_many
        set_encoded = remote.set_encoded
        self._pipeline = WritePipeline(lambda pairs, ttl: set_encoded(pairs, ttl) & BG)
        self._keys, self._incr, self._cas, self._watch = remote.keys, remote.incr, remote.cas, remote.watch

    def set(self, key: str, value: Any, ttl: float | None = None) -> SetCall:
        """Store ``value`` (anything the mesh can send) under ``key``, for ``ttl`` seconds or for good.

        Its FG returns once the write is durable (committed to the SQLite file, or acknowledged by Redis).
        With plain BG or NO_RETURN it goes through this client's pipeline: the sets made while an
        earlier batch of them is out go together in the next call (docs/services.md).

        Raises:
            SerializationError: with BG or NO_RETURN, at once, ``value`` cannot be pickled.
        """
        key, ttl = check_key(key), check_ttl(ttl)
        return SetCall(functools.partial(self._set, key, value, ttl), self._pipeline, key, value, ttl)

    def get(self, key: str, default: Any = MISSING) -> RemoteCall:
        """The value of ``key``; ``default`` when missing, and without one :class:`KeyError` on the caller."""
        self._pipeline.flush()
        if default is MISSING:
            call: RemoteCall = self._get(check_key(key))
        else:
            call = self._get(check_key(key), default)
        return call

    def set_many(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]], ttl: float | None = None) -> RemoteCall:
        """Store each ``(key, value)`` of ``items`` (a dict, or pairs), in their order, all in one write:
        all of them or, on a failure, none. One call and one commit for them all: the fast way to store
        many keys (its FG returns once they are durable).
        """
        self._pipeline.flush()
        call: RemoteCall = self._set_many(check_items(items), check_ttl(ttl))
        return call

    def get_many(self, keys: Iterable[str], default: Any = MISSING) -> RemoteCall:
        """The values of ``keys`` in one call, as a dict by key: the keys that are missing are left out,
        or, given a ``default``, map to it."""
        self._pipeline.flush()
        keys = [check_key(key) for key in check_list(keys, "keys")]
        if default is MISSING:
            call: RemoteCall = self._get_many(keys)
        else:
            call = self._get_many(keys, default)
        return call

    def delete(self, key: str) -> RemoteCall:
        """Remove ``key``; the call's result says whether it was there."""
        self._pipeline.flush()
        call: RemoteCall = self._delete(check_key(key))
        return call

    def keys(self, prefix: str = "") -> RemoteCall:
        """The keys that start with ``prefix``, sorted."""
        self._pipeline.flush()
        call: RemoteCall = self._keys(check_key(prefix))
        return call

    def incr(self, key: str, amount: int = 1) -> RemoteCall:
        """Add ``amount`` to the int under ``key`` (missing: 0), atomically; the result is the new value.

        A value that is not an int raises :class:`TypeError` on the caller.
        """
        self._pipeline.flush()
        call: RemoteCall = self._incr(check_key(key), check_amount(amount))
        return call

    def cas(self, key: str, expected: Any, new: Any) -> RemoteCall:
        """Set ``key`` to ``new`` only if its value equals ``expected`` (a missing key equals None),
        atomically; the result says whether it did. The key keeps its ttl."""
        self._pipeline.flush()
        call: RemoteCall = self._cas(check_key(key), expected, new)
        return call

    def watch(self, prefix: str = "") -> RemoteCall:
        """The changes under ``prefix`` from when the call reaches the service, each a
        :class:`~mesh.services.Change`: take them with ``& STREAM``.

        A watch that falls more than 10,000 changes behind ends with :class:`OverflowError` after
        the changes before. A key's expiry is not a change.
        """
        self._pipeline.flush()
        call: RemoteCall = self._watch(check_key(prefix))
        return call
