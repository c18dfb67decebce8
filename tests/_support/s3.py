"""A real S3 server for the storage tests: moto's server (``moto[server]`` from PyPI) on a loopback port."""

from __future__ import annotations

import socket
import sys

from tests._support.proc import Proc, free_port
from tests._support.workers import wait_until

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class MotoServer:
    """``python -m moto.server`` on a free port of 127.0.0.1, stopped by PID with :meth:`stop`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = Proc([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], env=env)
        try:
            wait_until(lambda: _accepts(self.port) or self.proc.popen.poll() is not None, 30, "moto's server to listen")
        except BaseException:
            self.proc.stop()
            raise
        if self.proc.popen.poll() is not None:
            raise AssertionError(f"moto's server exited:\n{self.proc.text()}")

    def stop(self) -> None:
        self.proc.stop()
