"""The daffi README's two scripts, with only the import line changed, and the ``mesh demo``."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._support.proc import MESH_COMMAND, Proc

ROOT = Path(__file__).resolve().parent.parent


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


# daffi's documentation, kept beside the repository (as CI has it), not in it: it is another project's.
DAFFI_SEED = ROOT.parent / "shared" / "seeds" / "daffi.md"


@pytest.mark.skipif(not DAFFI_SEED.exists(), reason=f"daffi's README ({DAFFI_SEED}) is not beside this checkout")
def test_examples_differ_from_daffi_only_in_the_import() -> None:
    seed = DAFFI_SEED.read_text()
    for name in ("process1.py", "process2.py"):
        ours = (ROOT / "examples" / name).read_text()
        assert "from mesh import" in ours
        assert ours.replace("from mesh import", "from daffi import") in seed


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_daffi_process1_and_process2(spawn: Callable[..., Proc]) -> None:
    """Process1 (sync, runs the controller on localhost:8888) and Process2 (async) as daffi documents them.

    Slow: the example's own sleeps (ten rounds of 5 s) make it 50 s long."""
    process1 = spawn(module="examples.process1")
    _wait_for_port(8888, 20)
    time.sleep(0.5)
    process2 = spawn(module="examples.process2")
    assert process1.popen.wait(120) == 0, process1.text()
    output1, output2 = process1.text(), process2.text()
    assert output1.count("Calculated delta = 7") == 10
    assert output2.count("Func2 has been triggered!") == 10
    assert output2.count("Calculated sum is 10") == 5


@pytest.mark.timeout(120)
def test_mesh_demo_runs_every_modifier() -> None:
    done = subprocess.run([MESH_COMMAND, "demo"], capture_output=True, text=True, timeout=100, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for heading in ("FG", "BG", "NO_RETURN", "PERIOD", "BROADCAST"):
        assert f"== {heading}" in done.stdout
    assert "add(2, 3) & FG -> 5" in done.stdout
    assert "results: [0, 1, 4, 9, 16, 25]" in done.stdout
    assert "kv.get('greeting') & FG -> {'text': 'hello', 'from': 'main'}" in done.stdout
    assert "kv.incr('visits') & FG -> 4" in done.stdout
    assert "jobs.result(id) & FG for each -> [0, 1, 4, 9]" in done.stdout
    assert "jobs.status(ids[0]) & FG -> done, attempts 1, on worker-" in done.stdout
    assert "ev.publish(topic, {...}) & FG -> offsets [0, 0, 1, 1]" in done.stdout
    assert done.stdout.count("pushed to main's handler: orders.") == 4
    assert "ev.read('orders.eu') & STREAM -> [(0, {'order': 0}), (1, {'order': 2})]" in done.stdout
    assert "workers exited with [0, 0, 0]" in done.stdout


@pytest.mark.timeout(120)
def test_pydistributed_ping_pong_on_events(spawn: Callable[..., Proc]) -> None:
    """PyDistributed's message-bus example, ping and pong in processes of their own, over ``Events``."""
    broker = spawn(module="examples.events_ping_pong")
    assert broker.popen.wait(100) == 0, broker.text()
    output = broker.text()
    assert output.count("GOT ping") == output.count("GOT pong") == 5, output
    assert "ping and pong exited with [0, 0]" in output
