"""A throwaway ``redis-server`` for the bench scripts' comparisons, on a free loopback port."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

INSTALL = "it needs redis-server (Debian: apt-get install redis-server) and redis-py (pip install 'grpcmesh[redis]')"


def missing() -> str | None:
    """Why the Redis comparison cannot run here, or None when it can."""
    try:
        import redis  # noqa: F401
    except ImportError:
        return INSTALL
    return None if shutil.which("redis-server") else INSTALL


@contextlib.contextmanager
def redis_server(appendonly: bool = True) -> Iterator[str]:
    """A redis-server on 127.0.0.1 (with ``appendonly everysec``, the durable setting most deployments
    use, unless told not to), stopped at the end; yields its URL."""
    import redis

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", folder,
             "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"redis://127.0.0.1:{port}/0"
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(10)
