"""The controller: standalone or in-process, membership pushed to every node, dead nodes noticed."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable

import anyio
import pytest

from mesh import FG, ControllerUnavailable, Global, NameTaken
from tests._support.proc import Proc, free_port

pytestmark = pytest.mark.timeout(60)


def _names(g: Global) -> set[str]:
    return {m["name"] for m in g.members()}


def _wait_until(predicate: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_standalone_controller_tracks_joins_and_leaves(
    controller: Callable[[], tuple[Proc, int]], peer: Callable[..., tuple[Proc, str]]
) -> None:
    _, port = controller()
    with Global(process_name="watcher", host="127.0.0.1", port=port) as g:
        assert _names(g) == {"watcher"}
        proc, address = peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port))
        _wait_until(lambda: "peer" in _names(g), 5)
        member = next(m for m in g.members() if m["name"] == "peer")
        assert member["address"] == address
        assert "add" in member["callbacks"]
        g.call.leave() & FG
        _wait_until(lambda: "peer" not in _names(g), 5)
        proc.popen.wait(5)


def test_node_killed_with_sigkill_is_removed_within_3_s(
    controller: Callable[[], tuple[Proc, int]], peer: Callable[..., tuple[Proc, str]]
) -> None:
    _, port = controller()
    with Global(process_name="watcher", host="127.0.0.1", port=port) as g:
        proc, _ = peer("--name", "victim", "--host", "127.0.0.1", "--port", str(port))
        _wait_until(lambda: "victim" in _names(g), 5)
        proc.signal(signal.SIGKILL)
        assert _wait_until(lambda: "victim" not in _names(g), 3) < 3


def test_calls_go_node_to_node_not_through_the_controller(
    controller: Callable[[], tuple[Proc, int]], peer: Callable[..., tuple[Proc, str]]
) -> None:
    ctl, port = controller()
    with Global(process_name="caller", host="127.0.0.1", port=port) as g:
        peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port))
        g.wait_process("peer", timeout=10)
        assert g.call.add(1, 2) & FG == 3
        ctl.signal(signal.SIGKILL)
        ctl.popen.wait(5)
        for i in range(20):
            assert g.call.add(i, 1) & FG == i + 1


def test_nodes_rejoin_a_restarted_controller(spawn: Callable[..., Proc], peer: Callable[..., tuple[Proc, str]]) -> None:
    port = free_port()
    args = ("--host", "127.0.0.1", "--port", str(port))
    first = spawn(*args, module="controller")
    first.wait_line("controller listening")
    peer("--name", "peer", *args)
    first.signal(signal.SIGKILL)
    first.popen.wait(5)
    second = spawn(*args, module="controller")
    second.wait_line("controller listening")
    with Global(process_name="newcomer", host="127.0.0.1", port=port) as g:
        g.wait_process("peer", timeout=5)
        assert g.call.whoami() & FG == "peer"


def test_mesh_controller_command(spawn: Callable[..., Proc]) -> None:
    port = free_port()
    proc = spawn("controller", "--host", "127.0.0.1", "--port", str(port), module="mesh")
    proc.wait_line("controller listening on 127.0.0.1:")
    with Global(process_name="probe", host="127.0.0.1", port=port) as g:
        assert _names(g) == {"probe"}
    proc.signal(signal.SIGTERM)
    assert proc.popen.wait(5) == 0


def test_process_names_are_unique(controller: Callable[[], tuple[Proc, int]]) -> None:
    _, port = controller()
    with Global(process_name="only-one", host="127.0.0.1", port=port), pytest.raises(NameTaken, match="only-one"):
        Global(process_name="only-one", host="127.0.0.1", port=port)


def test_a_refused_controller_address_fails_at_once_naming_it() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ControllerUnavailable, match=f"127.0.0.1:{port} refused the connection"):
        Global(process_name="lonely", host="127.0.0.1", port=port, connect_timeout=30)
    # Well under the 30 s connect timeout: nothing listens there, so there is nothing to wait for.
    assert time.monotonic() - started < 3


def test_a_slow_controller_is_waited_for_and_the_wait_is_logged(
    controller: Callable[[], tuple[Proc, int]], caplog: pytest.LogCaptureFixture
) -> None:
    ctl, port = controller()
    # A frozen controller: the kernel takes the connection, nothing answers it until SIGCONT.
    ctl.signal(signal.SIGSTOP)
    thaw = threading.Timer(2.0, ctl.signal, (signal.SIGCONT,))
    thaw.start()
    try:
        with Global(process_name="patient", host="127.0.0.1", port=port) as g:
            assert _names(g) == {"patient"}
    finally:
        thaw.cancel()
        ctl.signal(signal.SIGCONT)
    waits = [r.getMessage() for r in caplog.records if "is slow to answer" in r.getMessage()]
    assert len(waits) == 1 and f"127.0.0.1:{port}" in waits[0] and "retrying for up to 30.0 s" in waits[0]


def test_a_controller_that_never_answers_fails_after_connect_timeout(
    controller: Callable[[], tuple[Proc, int]],
) -> None:
    ctl, port = controller()
    ctl.signal(signal.SIGSTOP)
    try:
        with pytest.raises(ControllerUnavailable, match=f"no controller answered at 127.0.0.1:{port} within 1"):
            Global(process_name="lonely", host="127.0.0.1", port=port, connect_timeout=1)
    finally:
        ctl.signal(signal.SIGCONT)


def test_a_burst_of_registrations_keeps_the_controller_stream(
    controller: Callable[[], tuple[Proc, int]], caplog: pytest.LogCaptureFixture
) -> None:
    """Forty callbacks registered in one go on the node's loop are announced on one stream, one write
    at a time (a second write while one is under way fails the whole stream); one registered later
    reaches the controller on that same stream."""
    _, port = controller()
    names = {f"burst.fn{n}" for n in range(40)}

    async def burst() -> None:
        async with Global(process_name="burster", host="127.0.0.1", port=port) as g:
            for name in sorted(names):
                g.register(lambda: None, name=name)
            await anyio.to_thread.run_sync(_wait_until, seen, 10)
            names.add("burst.late")
            g.register(lambda: None, name="burst.late")
            await anyio.to_thread.run_sync(_wait_until, seen, 10)

    with Global(process_name="watcher", host="127.0.0.1", port=port) as watcher:

        def seen() -> bool:
            member = next((m for m in watcher.members() if m["name"] == "burster"), None)
            return member is not None and names <= set(member["callbacks"])

        anyio.run(burst)
    lost = [r.getMessage() for r in caplog.records if "lost the controller" in r.getMessage()]
    assert lost == []


def test_controller_only_global(peer: Callable[..., tuple[Proc, str]]) -> None:
    port = free_port()
    with (
        Global(process_name="ctl", init_controller=True, init_node=False, host="127.0.0.1", port=port) as ctl,
        Global(process_name="user", host="127.0.0.1", port=port) as g,
    ):
        peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port))
        g.wait_process("peer", timeout=10)
        assert "ctl" not in _names(g)
        assert g.call.add(2, 2) & FG == 4
        assert {m["name"] for m in ctl.members()} == {"user", "peer"}


def test_python_m_controller_prints_usage() -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "controller", "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "--port" in done.stdout
