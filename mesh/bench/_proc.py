"""Child processes of the benchmark: started with their output collected, stopped by PID."""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from mesh import Global


class ChildFailed(RuntimeError):
    """A child exited, or stayed silent too long, before the line it was waited for."""

    def __init__(self, message: str, output: list[str]) -> None:
        super().__init__(f"{message}:\n{''.join(output)}")
        self.last_line = next((line.strip() for line in reversed(output) if line.strip()), "(no output)")


class Child:
    """A program (``argv``) with its output lines collected by a thread."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.args = argv
        self.popen = subprocess.Popen(
            self.args,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)
            self._lines.put(line)

    def wait_line(self, prefix: str, timeout: float = 60.0) -> str:
        """The rest of the first output line that starts with ``prefix``.

        Raises:
            ChildFailed: the child exited first, or ``timeout`` passed.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(f"no {prefix!r} line from {self.args} within {timeout} s", self.output)
            try:
                line = self._lines.get(timeout=min(left, 0.1))
            except queue.Empty:
                if self.popen.poll() is not None and self._lines.empty():
                    raise ChildFailed(f"{self.args} exited with {self.popen.returncode}", self.output) from None
                continue
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; also kills what the child started in its session."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._reader.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


class Children:
    """The children of one measurement; ``with`` stops every one of them."""

    def __init__(self) -> None:
        self._started: list[Child] = []

    def start(self, module: str, *args: str, env: dict[str, str] | None = None) -> Child:
        """``python -m MODULE args`` with this Python."""
        return self.program([sys.executable, "-m", module, *args], env)

    def program(self, argv: list[str], env: dict[str, str] | None = None) -> Child:
        """Any program, such as a ``redis-server`` the benchmark needs."""
        child = Child(argv, env=env)
        self._started.append(child)
        return child

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for child in reversed(self._started):
            child.stop()


def run_child_node(setup: Callable[[Global], None] = lambda node: None) -> None:
    """A bench child's life: join as ``--name`` (at the controller ``--host``/``--port``), ``setup`` the
    node, say ``READY <address>``, and serve until SIGTERM stops the node."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    options = parser.parse_args()
    node = Global(process_name=options.name, host=options.host, port=options.port)
    setup(node)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=node.stop).start())
    print(f"READY {node.address}", flush=True)
    node.join()
