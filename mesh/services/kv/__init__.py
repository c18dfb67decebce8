"""The key-value service: :class:`KV` calls it, :class:`KVService` serves it over a backend.

Start it with ``mesh serve kv --path FILE`` (SQLite, the default) or ``mesh serve kv --redis URL``,
or in code::

    backend = open_backend(path="kv.db")
    g.register(KVService(backend), prefix="kv")

See docs/services.md for what it guarantees.
"""

from __future__ import annotations

from ._client import KV
from ._pipeline import WriteResult
from ._service import KVService
from ._set_call import SetCall
from ._values import MISSING
from ._watchers import Change
from .backends import Backend, open_backend

__all__ = ["KV", "MISSING", "Backend", "Change", "KVService", "SetCall", "WriteResult", "open_backend"]
