"""Programs that end without ``stop()`` end quietly and leave no socket files (real child programs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh.wire import _stale_sockets
from tests._support.proc import MESH_COMMAND, ROOT, Proc
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)

# What Python, asyncio and gRPC print when a node outlives its program's event loop.
NOISE = (
    "Error in sys.excepthook",
    "Exception ignored",
    "Event loop is closed",
    "Task exception was never retrieved",
    "was never awaited",
    "Task was destroyed",
)


def _run(code: str, tmp_path: Path, timeout: float = 40) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests._support.run_code", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )


def _sockets(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in tmp_path.rglob("*.sock"))


def _assert_clean(done: subprocess.CompletedProcess[str], stdout: str, tmp_path: Path) -> None:
    """The program succeeded, printed only ``stdout``, and left no socket file."""
    assert done.returncode == 0 and done.stdout == stdout, done.stdout + done.stderr
    assert done.stderr == ""
    assert _sockets(tmp_path) == []


def _assert_quiet(output: str) -> None:
    for line in NOISE:
        assert line not in output, output


def test_async_program_that_forgets_stop(tmp_path: Path) -> None:
    done = _run(
        """
import asyncio
from mesh import FG, Global, callback

@callback
def hello() -> str:
    return "hello"

async def main() -> None:
    g = Global(process_name="forgetful", init_controller=True)
    print(await (g.call.hello() & FG))

asyncio.run(main())
""",
        tmp_path,
    )
    _assert_clean(done, "hello\n", tmp_path)


def test_async_program_whose_exception_escapes(tmp_path: Path) -> None:
    done = _run(
        """
import asyncio
from mesh import Global

async def main() -> None:
    g = Global(process_name="failing", init_controller=True)
    await g.wait_process("failing", timeout=10)
    raise ValueError("the program's own mistake")

asyncio.run(main())
""",
        tmp_path,
    )
    assert done.returncode == 1
    _assert_quiet(done.stderr)
    assert done.stderr.count("Traceback") == 1 and done.stderr.endswith("ValueError: the program's own mistake\n")
    assert _sockets(tmp_path) == []


def test_sigint_to_the_async_daffi_example(spawn: Callable[..., Proc], tmp_path: Path) -> None:
    """examples/process2.py with its own controller and func3, so it needs no process1."""
    example = (ROOT / "examples" / "process2.py").read_text()
    assert "host='localhost', port=8888" in example and "async def main" in example
    program = example.replace("host='localhost', port=8888", "init_controller=True").replace(
        "async def main", "@callback\ndef func3(a: int, b: int) -> int:\n    return a + b\n\n\nasync def main"
    )
    proc = spawn("-c", program, module="tests._support.run_code")
    proc.wait_line("Calculated sum is 10", timeout=30)
    assert len(_sockets(tmp_path)) == 2
    proc.signal(signal.SIGINT)
    assert proc.wait_or_dump(20) == -signal.SIGINT, proc.text()
    output = proc.text()
    _assert_quiet(output)
    assert output.rstrip().endswith("KeyboardInterrupt"), output
    assert _sockets(tmp_path) == []


def test_no_thread_outlives_an_async_program_ended_by_ctrl_c(tmp_path: Path) -> None:
    """The KeyboardInterrupt's traceback keeps the program's frames, and so its Global, to the very end:
    gRPC's threads must still be gone before the interpreter finalizes, where a thread of gRPC's calling
    back into Python can crash it. (Idle workers of the node, ending as it stopped them, may remain.)"""
    done = _run(
        """
import asyncio, atexit, os, signal, threading
from mesh import BG, Global, callback

@callback
def add(a: int, b: int) -> int:
    return a + b

atexit.register(lambda: print(sorted(t.name for t in threading.enumerate() if not t.name.startswith("mesh-"))))

async def main() -> None:
    g = Global(process_name="interrupted", init_controller=True)
    print(await (g.call.add(4, 6) & BG).get_async())
    os.kill(os.getpid(), signal.SIGINT)
    await g.join_async()

asyncio.run(main())
""",
        tmp_path,
    )
    assert done.returncode == -signal.SIGINT and done.stdout == "10\n['MainThread']\n", done.stdout + done.stderr
    assert done.stderr.rstrip().endswith("KeyboardInterrupt")
    assert _sockets(tmp_path) == []


def test_caught_start_failure_prints_nothing(tmp_path: Path) -> None:
    done = _run(
        """
import asyncio
from mesh import ControllerUnavailable, Global

async def main() -> None:
    g = Global(process_name="early", connect_timeout=0.3)
    try:
        await g.wait_process("early", timeout=10)
    except ControllerUnavailable:
        print("caught")

asyncio.run(main())
""",
        tmp_path,
    )
    _assert_clean(done, "caught\n", tmp_path)


def test_sync_program_that_forgets_stop(tmp_path: Path) -> None:
    done = _run(
        """
from mesh import FG, Global, callback

@callback
def hello() -> str:
    return "hello"

g = Global(process_name="forgetful", init_controller=True)
print(g.call.hello() & FG)
""",
        tmp_path,
    )
    _assert_clean(done, "hello\n", tmp_path)


def test_mesh_ls_against_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [MESH_COMMAND, "ls", "--timeout", "0.3"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 1
    assert done.stderr.startswith("mesh ls: no controller answered at unix:") and done.stderr.count("\n") == 1
    assert _sockets(tmp_path) == []


def test_a_killed_nodes_socket_is_removed_by_the_next_node(spawn: Callable[..., Proc], tmp_path: Path) -> None:
    controller = spawn("controller", module="mesh.cli")
    controller.wait_line("controller listening on")
    live = spawn("--name", "live")
    live_socket = Path(live.wait_line("READY").split("unix:", 1)[1]).name
    killed = spawn("--name", "killed")
    killed.wait_line("READY")
    killed.signal(signal.SIGKILL)
    killed.popen.wait(10)
    folder = tmp_path / "grpcmesh"
    assert len(list(folder.glob("node-*.sock"))) == 2
    # A file younger than MIN_AGE may belong to a node between bind() and listen(): it is left alone.
    oldest = max(path.stat().st_mtime for path in folder.glob("node-*.sock"))
    wait_until(lambda: time.time() - oldest > _stale_sockets.MIN_AGE, 10, "the socket files age")
    done = _run(
        """
from mesh import Global

with Global(process_name="next") as g:
    print(sorted(m["name"] for m in g.members()))
""",
        tmp_path,
    )
    assert done.stdout == "['live', 'next']\n", done.stdout + done.stderr
    assert sorted(path.name for path in folder.glob("*.sock")) == sorted(["controller.sock", live_socket])
