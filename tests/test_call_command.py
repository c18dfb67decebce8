"""``mesh call NAME [ARGS] [--receiver NODE] [--bg]``: real ``mesh call`` processes against real nodes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._support.proc import MESH_COMMAND, Proc, free_port
from tests._support.serve import mesh_serve
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(120)


def mesh_call(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    command = [MESH_COMMAND, "call", *args, "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=dict(os.environ))


@pytest.fixture
def mesh_of_two(
    controller: Callable[[], tuple[Proc, int]], peer: Callable[..., tuple[Proc, str]]
) -> tuple[int, dict[str, Proc]]:
    _, port = controller()
    nodes = {name: peer("--name", name, "--host", "127.0.0.1", "--port", str(port))[0] for name in ("p1", "p2")}
    return port, nodes


def test_a_call_prints_its_result_as_json(mesh_of_two: tuple[int, dict[str, Proc]]) -> None:
    port, _ = mesh_of_two
    positional = mesh_call(port, "add", "[1, 2]")
    assert (positional.returncode, positional.stdout) == (0, "3\n"), positional.stderr
    keywords = mesh_call(port, "add", '{"a": 40, "b": 2}')
    assert (keywords.returncode, keywords.stdout) == (0, "42\n"), keywords.stderr
    # An object is the keyword arguments: one dict argument goes in a list.
    one = mesh_call(port, "echo", '[{"nested": [1, "two", null]}]')
    assert json.loads(one.stdout) == {"nested": [1, "two", None]}, one.stderr
    named = mesh_call(port, "whoami", "--receiver", "p2")
    assert (named.returncode, named.stdout) == (0, '"p2"\n'), named.stderr
    # Not JSON-able: its repr.
    raw = mesh_call(port, "big", "[3]")
    assert (raw.returncode, raw.stdout) == (0, "b'\\x01\\x01\\x01'\n"), raw.stderr


def test_mistakes_and_failures_have_their_own_exit_codes_and_say_why(mesh_of_two: tuple[int, dict[str, Proc]]) -> None:
    port, _ = mesh_of_two
    unknown = mesh_call(port, "ad", "[1, 2]", "--wait", "0.2")
    assert unknown.returncode == 3 and "UnknownCallback" in unknown.stderr and "'add'" in unknown.stderr, unknown
    not_json = mesh_call(port, "add", "[1, 2")
    assert not_json.returncode == 2 and "ARGS is not JSON" in not_json.stderr, not_json
    bad_arguments = mesh_call(port, "add", "[1, 2, 3]")
    assert bad_arguments.returncode == 2 and "BadArguments" in bad_arguments.stderr, bad_arguments
    raised = mesh_call(port, "refuse", '["no thanks"]')
    # A type that does not load here comes as RemoteError, with the remote traceback.
    assert raised.returncode == 1 and "RemoteError: tests._support.shapes.Refused: no thanks" in raised.stderr, raised
    builtin = mesh_call(port, "sleep", '["long"]')
    assert builtin.returncode == 1 and "the callback raised TypeError" in builtin.stderr, builtin
    absent = mesh_call(port, "add", "[1, 2]", "--receiver", "nobody")
    assert absent.returncode == 3 and "nobody" in absent.stderr, absent
    no_controller = mesh_call(free_port(), "add", "[1, 2]")
    assert no_controller.returncode == 4 and "ControllerUnavailable" in no_controller.stderr, no_controller


def test_a_peer_killed_mid_call_exits_4_naming_it(mesh_of_two: tuple[int, dict[str, Proc]], tmp_path: Path) -> None:
    port, nodes = mesh_of_two
    command = [MESH_COMMAND, "call", "gate", "[1]", "--receiver", "p1", "--host", "127.0.0.1", "--port", str(port)]
    held = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: mesh_call(port, "held", "--receiver", "p1").stdout == "1\n", 30, "the call is held")
        os.kill(nodes["p1"].pid, signal.SIGKILL)
        _, stderr = held.communicate(timeout=30)
    finally:
        if held.poll() is None:
            held.kill()
            held.wait()
    assert held.returncode == 4 and "PeerUnavailable" in stderr and "p1" in stderr, stderr


def test_bg_submits_a_job_whose_result_a_later_call_fetches(
    mesh_of_two: tuple[int, dict[str, Proc]], spawn: Callable[..., Proc], tmp_path: Path
) -> None:
    port, _ = mesh_of_two
    mesh_serve(spawn, "jobs", port, "--path", str(tmp_path / "jobs.db"), name="jobs")
    submitted = mesh_call(port, "add", "[20, 22]", "--bg")
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads(submitted.stdout)["job"]
    fetched = mesh_call(port, "jobs.result", json.dumps([job, 20]))
    assert (fetched.returncode, fetched.stdout) == (0, "42\n"), fetched.stderr
    both = mesh_call(port, "add", "[1, 2]", "--bg", "--receiver", "p1")
    assert both.returncode == 2 and "--receiver" in both.stderr, both
