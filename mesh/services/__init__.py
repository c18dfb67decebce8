"""Services built on the mesh: storage, key-value, events, jobs (one module each, as they land).

A service is a set of callbacks under a dotted prefix, hosted by whichever node starts it and called
with the ordinary modifiers. Services use only the public API of :mod:`mesh` (``@callback``,
``g.call``, the modifiers, the errors): ``tests/test_layering.py`` holds them to it.
"""

from __future__ import annotations

from .events import Event, Events
from .jobs import Jobs
from .kv import KV, Change, KVService
from .storage import Storage

__all__ = ["KV", "Change", "Event", "Events", "Jobs", "KVService", "Storage"]
