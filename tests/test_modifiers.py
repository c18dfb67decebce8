"""The five modifiers from sync code, in both syntaxes, against a peer process over TCP and UNIX sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from mesh import (
    BG,
    BROADCAST,
    FG,
    NO_RETURN,
    PERIOD,
    AsyncResult,
    CallCancelled,
    CallTimeout,
    Global,
    UsageError,
    callback,
)
from tests._support.main_node import main_node
from tests._support.proc import Proc
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["tcp", "unix"])
def mesh_pair(request: pytest.FixtureRequest, peer: Callable[..., tuple[Proc, str]]) -> Iterator[Global]:
    """This process runs the controller and node 'main'; a peer process runs node 'peer'."""
    g, where = main_node(request.param)
    _, address = peer("--name", "peer", *where)
    if request.param == "unix":
        assert g.controller_address.startswith("unix:") and address.startswith("unix:")
    try:
        g.wait_process("peer", timeout=10)
        yield g
    finally:
        g.stop()


def test_fg_both_syntaxes(mesh_pair: Global) -> None:
    g = mesh_pair
    assert g.call.add(1, 2) & FG == 3
    assert g.call.add(1, 2) & FG(timeout=5) == 3
    assert g.call.add(a=4, b=5).fg(timeout=5) == 9
    assert g.call.async_add(10, 3) & FG == 13


def test_fg_timeout_is_a_timeout_error(mesh_pair: Global) -> None:
    with pytest.raises(TimeoutError) as caught:
        mesh_pair.call.sleep(3) & FG(timeout=0.3)
    assert isinstance(caught.value, CallTimeout)
    assert "'sleep'" in str(caught.value)


def test_a_timeout_stops_a_call_run_here_as_it_stops_one_sent_to_a_peer() -> None:
    """The node's one expirer also times out a callback of this very node, and cancels it, in sync and async code."""
    cancelled: list[float] = []

    @callback
    async def nap_here(seconds: float) -> float:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cancelled.append(seconds)
            raise
        return seconds

    expected = r"callback 'nap_here' on node 'solo' did not answer within 0.2 s"
    with Global(process_name="solo", init_controller=True) as g:
        with pytest.raises(CallTimeout, match=expected):
            g.call.nap_here(5) & FG(timeout=0.2)
        wait_until(lambda: cancelled == [5], 5, "the timed-out callback cancelled")
        assert g.call.nap_here(0.01) & FG(timeout=5) == 0.01
        assert g.statistics()["timeouts"] == 0

    async def in_async_code() -> None:
        async with Global(process_name="solo", init_controller=True) as g:
            with pytest.raises(CallTimeout, match=expected):
                await g.call.nap_here(6) & FG(timeout=0.2)
            await asyncio.to_thread(wait_until, lambda: cancelled == [5, 6], 5, "the timed-out callback cancelled")
            assert g.statistics()["timeouts"] == 0

    asyncio.run(in_async_code())


def test_answered_calls_leave_no_deadline_behind(mesh_pair: Global) -> None:
    g = mesh_pair
    results = [g.call.add(i, 1) & BG(timeout=30) for i in range(200)]
    assert [result.get(timeout=10) for result in results] == [i + 1 for i in range(200)]
    assert g.call.add(1, 1) & FG(timeout=30) == 2
    assert g.statistics()["timeouts"] == 0, "an answered call kept its timeout entry (and its reply) alive"


def test_bg_future(mesh_pair: Global) -> None:
    g = mesh_pair
    future = g.call.sleep(0.3) & BG
    assert isinstance(future, AsyncResult)
    assert not future.done()
    assert future.get(timeout=5) == 0.3
    assert future.done()
    assert g.call.add(2, 2).bg(timeout=5).get(5) == 4


def test_bg_get_timeout_and_call_timeout(mesh_pair: Global) -> None:
    g = mesh_pair
    waiting = g.call.sleep(1) & BG
    with pytest.raises(CallTimeout):
        waiting.get(timeout=0.1)
    assert waiting.get(timeout=5) == 1
    expiring = g.call.sleep(2) & BG(timeout=0.2)
    with pytest.raises(CallTimeout):
        expiring.get(timeout=5)


def test_bg_cancel(mesh_pair: Global) -> None:
    future = mesh_pair.call.sleep(2) & BG
    assert future.cancel()
    assert future.done()
    with pytest.raises(CallCancelled):
        future.get(1)


def test_bg_eta_delays_the_call(mesh_pair: Global) -> None:
    started = time.monotonic()
    future = mesh_pair.call.add(1, 1) & BG(eta=0.5)
    assert future.get(5) == 2
    assert time.monotonic() - started >= 0.5


def test_no_return_runs_on_the_callee(mesh_pair: Global) -> None:
    g = mesh_pair
    before = g.call.count() & FG
    assert (g.call.bump() & NO_RETURN) is None
    g.call.bump().no_return()
    g.call.bump() & NO_RETURN(eta=0.2)
    deadline = time.monotonic() + 5
    while g.call.count() & FG != before + 3:
        assert time.monotonic() < deadline, "NO_RETURN calls did not all run"
        time.sleep(0.05)


def test_period_every_n_seconds_then_cancel(mesh_pair: Global) -> None:
    g = mesh_pair
    start = g.call.ticks() & FG
    task = g.call.tick() & PERIOD(period=0.2)
    time.sleep(1.1)
    task.cancel()
    time.sleep(0.3)
    ran = (g.call.ticks() & FG) - start
    assert 3 <= ran <= 6
    time.sleep(0.5)
    assert (g.call.ticks() & FG) - start == ran, "the schedule kept running after cancel()"


def test_period_at_times(mesh_pair: Global) -> None:
    g = mesh_pair
    start = g.call.ticks() & FG
    now = time.time()
    g.call.tick().period(at_time=[now + 0.2, now + 0.4, now + 0.6])
    g.call.tick() & PERIOD(at_time=now + 0.3)
    time.sleep(1.2)
    assert (g.call.ticks() & FG) - start == 4


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan"), "5"])
def test_a_timeout_must_be_a_positive_finite_number(timeout: object) -> None:
    for modifier in (FG, BG, BROADCAST):
        with pytest.raises(UsageError, match=r"timeout (must be positive and finite|.5. is not a duration)"):
            modifier(timeout=timeout)  # type: ignore[arg-type]


def test_period_validates_its_arguments() -> None:
    with pytest.raises(UsageError, match="past"):
        PERIOD(at_time=time.time() - 1)
    with pytest.raises(UsageError, match="either"):
        PERIOD(at_time=time.time() + 5, period=1)
    with pytest.raises(UsageError, match="positive"):
        PERIOD(period=0)


def test_broadcast_reaches_every_node(mesh_pair: Global, peer: Callable[..., tuple[Proc, str]]) -> None:
    g = mesh_pair
    if g.controller_address.startswith("unix:"):
        peer("--name", "peer2")
    else:
        port = g.controller_address.rsplit(":", 1)[1]
        peer("--name", "peer2", "--host", "127.0.0.1", "--port", port)
    g.wait_process("peer2", timeout=10)
    assert g.call.whoami() & BROADCAST(return_result=True) == {"peer": "peer", "peer2": "peer2"}
    assert g.call.whoami().broadcast(timeout=5, return_result=True) == {"peer": "peer", "peer2": "peer2"}
    assert g.call.bump() & BROADCAST is None
    deadline = time.monotonic() + 5
    while (g.call.count() & BROADCAST(return_result=True)) != {"peer": 1, "peer2": 1}:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # With an eta, each node runs it once the delay has passed, not before.
    sent = time.monotonic()
    assert g.call.bump() & BROADCAST(eta=0.5) is None
    assert g.call.count() & BROADCAST(return_result=True) == {"peer": 1, "peer2": 1}
    both_ran = {"peer": 2, "peer2": 2}
    wait_until(lambda: g.call.count() & BROADCAST(return_result=True) == both_ran, 5, "the BROADCAST with an eta")
    assert time.monotonic() - sent >= 0.5
