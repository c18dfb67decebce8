"""A real ``redis-server`` for the Redis backend's tests, on a free loopback port, stopped by PID."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests._support.proc import Proc, free_port

WHY_MISSING = "redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it when missing)"


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


class RedisServer:
    """``redis-server`` on 127.0.0.1 only, without persistence, its files under ``directory``."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = redis_server_path()
        assert command is not None, WHY_MISSING
        directory.mkdir(parents=True, exist_ok=True)
        self.proc = Proc(
            [
                command,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(directory),
                "--protected-mode", "yes",
            ]
        )  # fmt: skip
        while "Ready to accept connections" not in self.proc.wait_line("", timeout=10.0):
            pass

    def stop(self) -> None:
        self.proc.stop()
