"""Child processes for the tests: ``Proc`` collects a process's output lines; ``free_port`` finds a port."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The console script installed beside this interpreter (the venv need not be on PATH).
MESH_COMMAND = str(Path(sys.executable).parent / "mesh")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Proc:
    """A child process whose output lines are collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.args = args
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_line(self, prefix: str, timeout: float = 20.0) -> str:
        """The first output line starting with ``prefix``; fails if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line {prefix!r} from {self.args} in {timeout} s:\n{self.text()}")
            try:
                line = self.lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    raise AssertionError(
                        f"{self.args} exited with {self.popen.returncode} before {prefix!r}:\n{self.text()}"
                    ) from None
                continue
            if line.startswith(prefix):
                return line.strip()

    def text(self) -> str:
        time.sleep(0.05)
        return "".join(self.output)

    def wait_or_dump(self, timeout: float) -> int:
        """The exit code; a process still running after ``timeout`` seconds is made to print every
        thread's stack (SIGABRT under ``PYTHONFAULTHANDLER``) and the test fails with its output."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
            raise AssertionError(f"{self.args} still running after {timeout} s:\n{self.text()}") from None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(3)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self._reader.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
