"""Global's lifecycle: names, addresses, waiting, stopping, joining, context managers."""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from collections.abc import Callable

import pytest

from mesh import BG, FG, PERIOD, CallTimeout, Global, NodeStopped, UsageError, callback
from tests._support.proc import Proc, free_port

pytestmark = pytest.mark.timeout(60)


def test_random_process_name_and_default_unix_sockets() -> None:
    with Global(init_controller=True) as g:
        assert g.process_name.startswith("node-")
        temp = tempfile.gettempdir()
        assert g.controller_address == f"unix:{temp}/grpcmesh/controller.sock"
        assert g.address.startswith(f"unix:{temp}/grpcmesh/node-")
    with Global(init_controller=True) as other:
        assert other.process_name != g.process_name


def test_tcp_controller_gives_nodes_a_tcp_listen_address() -> None:
    port = free_port()
    with Global(process_name="a", init_controller=True, host="127.0.0.1", port=port) as g:
        assert g.controller_address == f"127.0.0.1:{port}"
        assert g.address.startswith("127.0.0.1:") and not g.address.endswith(":0")


def test_explicit_listen_is_announced(peer: Callable[..., tuple[Proc, str]]) -> None:
    port, own = free_port(), free_port()
    with Global(process_name="a", init_controller=True, host="127.0.0.1", port=port, listen=f"127.0.0.1:{own}") as g:
        assert g.address == f"127.0.0.1:{own}"
        _, peer_address = peer("--name", "p", "--host", "127.0.0.1", "--port", str(port), "--listen", "127.0.0.1:0")
        g.wait_process("p", timeout=10)
        assert next(m for m in g.members() if m["name"] == "p")["address"] == peer_address


def test_wait_process_and_wait_function_time_out_clearly() -> None:
    with Global(process_name="alone", init_controller=True) as g:
        with pytest.raises(CallTimeout, match="'ghost'"):
            g.wait_process("ghost", timeout=0.3)
        with pytest.raises(TimeoutError, match="'nothing'"):
            g.wait_function("nothing", timeout=0.3)


def test_stop_is_idempotent_and_later_calls_fail_clearly() -> None:
    g = Global(process_name="short", init_controller=True)
    g.stop()
    g.stop()
    with pytest.raises(NodeStopped):
        g.call.anything() & FG


def test_stop_is_bounded_while_calls_run(peer: Callable[..., tuple[Proc, str]]) -> None:
    port = free_port()
    peer("--name", "busy", "--host", "127.0.0.1", "--port", str(port), "--controller")
    g = Global(process_name="caller", host="127.0.0.1", port=port, stop_grace=0.5)
    g.wait_process("busy", timeout=10)
    futures = [g.call.sleep(30) & BG for _ in range(10)]
    started = time.monotonic()
    g.stop()
    assert time.monotonic() - started < 3
    for future in futures:
        with pytest.raises(NodeStopped, match="'caller' stopped"):
            future.get(1)


def test_join_returns_after_stop_from_another_thread() -> None:
    g = Global(process_name="joiner", init_controller=True)
    threading.Timer(0.3, g.stop).start()
    started = time.monotonic()
    g.join()
    assert time.monotonic() - started < 5


def test_period_ends_when_the_caller_leaves(spawn: Callable[..., Proc], peer: Callable[..., tuple[Proc, str]]) -> None:
    port = free_port()
    peer("--name", "callee", "--host", "127.0.0.1", "--port", str(port), "--controller")
    caller = spawn(
        "-c",
        "import sys, time; from mesh import Global, PERIOD; "
        f"g = Global(process_name='scheduler', host='127.0.0.1', port={port}); "
        "g.call.tick() & PERIOD(period=0.1); print('SCHEDULED', flush=True); time.sleep(60)",
        module="tests._support.run_code",
    )
    caller.wait_line("SCHEDULED")
    with Global(process_name="observer", host="127.0.0.1", port=port) as g:
        time.sleep(0.5)
        assert g.call.ticks() & FG >= 2
        caller.signal(signal.SIGKILL)
        time.sleep(0.5)
        after_kill = g.call.ticks() & FG
        time.sleep(0.6)
        assert g.call.ticks() & FG == after_kill, "the schedule outlived its caller"


def test_node_only_needs_a_port_with_a_host() -> None:
    with pytest.raises(UsageError, match="port"):
        Global(host="127.0.0.1")
    with pytest.raises(UsageError, match="init_node or init_controller"):
        Global(init_node=False)
    with pytest.raises(UsageError, match="PERIOD"):
        PERIOD()


def test_a_schedule_kept_on_this_node_ends_when_it_stops() -> None:
    runs: list[float] = []

    @callback
    def tick_here() -> None:
        runs.append(time.monotonic())

    g = Global(process_name="self-scheduler", init_controller=True)
    g.call.tick_here() & PERIOD(period=0.05)
    time.sleep(0.3)
    g.stop()
    stopped_with = len(runs)
    assert stopped_with >= 2
    time.sleep(0.3)
    assert len(runs) == stopped_with, "the schedule kept running after stop()"


def test_g_call_keeps_one_remote_callable_per_name() -> None:
    @callback
    def doubled(x: int) -> int:
        return 2 * x

    with Global(process_name="namer", init_controller=True) as g:
        first = g.call.doubled
        assert g.call.doubled is first
        assert first(4) & FG == 8
        assert g.call.doubled(5) & FG == 10
        assert g.call.other is not first
        assert not hasattr(g.call, "__length_hint__"), "a dunder name must not become a remote callable"
        assert "__length_hint__" not in vars(g.call)
