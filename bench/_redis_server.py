"""A throwaway ``redis-server`` for the bench scripts' comparisons: ``mesh bench``'s own, in a folder of its own."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator

from mesh.bench._kv import start_redis
from mesh.bench._proc import Children


@contextlib.contextmanager
def redis_server(appendonly: bool = True) -> Iterator[str]:
    """A redis-server on 127.0.0.1 (with ``appendonly everysec``, the durable setting most deployments
    use, unless told not to), stopped at the end; yields its URL."""
    with tempfile.TemporaryDirectory() as folder, Children() as children:
        yield start_redis(children, folder, appendonly)
