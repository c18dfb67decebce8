"""Faults with real processes: callees and callers killed, the controller restarted, a peer hung, nodes
stopped under load. Each test checks the bound its issue names; measured figures are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mesh import BG, FG, Global, NodeStopped, PeerUnavailable, UnknownCallback, callback
from tests._support.proc import Proc, free_port
from tests._support.workers import Blocked, Worker, wait_until

pytestmark = pytest.mark.timeout(120)

Peer = Callable[..., tuple[Proc, str]]
Spawn = Callable[..., Proc]


def _names(g: Global) -> set[str]:
    return {m["name"] for m in g.members()}


Echoing = Callable[[Callable[[int], Any]], Worker]


@pytest.fixture
def echoing() -> Iterator[Echoing]:
    """Starts workers making ``call(i)`` over and over, each expected to give back ``i``; stops them
    all when the test ends, failed or not (a worker left running calls a stopped node forever)."""
    started: list[Worker] = []

    def start(call: Callable[[int], Any]) -> Worker:
        def step(i: int) -> None:
            got = call(i)
            assert got == i, f"call {i} gave {got!r}"

        started.append(Worker(step))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def main_node(controller: Callable[[], tuple[Proc, int]]) -> Iterator[tuple[Global, int]]:
    """A node in this process, joined to a standalone controller; the controller's port."""
    _, port = controller()
    g = Global(process_name="main", host="127.0.0.1", port=port)
    yield g, port
    g.stop()


def _own_peer(peer: Peer, name: str, *where: str) -> tuple[Proc, str]:
    """A peer offering ``<name>_echo``, ``<name>_sleep``, ... besides the shared callbacks."""
    return peer("--name", name, "--own", *where)


def _controller_args(port: int) -> tuple[str, ...]:
    return ("--host", "127.0.0.1", "--port", str(port))


# --------------------------------------------------------------------------------------- item 4


def test_killed_callee_fails_every_pending_call_within_3_s_and_spares_other_peers(
    main_node: tuple[Global, int], peer: Peer, echoing: Echoing
) -> None:
    g, port = main_node
    victim, _ = _own_peer(peer, "victim", *_controller_args(port))
    _own_peer(peer, "bystander", *_controller_args(port))
    g.wait_function("victim_sleep", timeout=10)
    g.wait_function("bystander_echo", timeout=10)
    pending = [g.call.victim_sleep(30) & BG for _ in range(5)]
    pending += [g.call.victim_async_sleep(30) & BG for _ in range(5)]
    blocked = [Blocked(lambda n=n: getattr(g.call, n)(30) & FG) for n in ("victim_sleep", "victim_async_sleep")]
    wait_until(lambda: (g.call.victim_vitals() & FG)["in_flight"] >= 13, 5, "12 calls running on the victim")
    fg = echoing(lambda i: g.call.bystander_echo(i) & FG)
    bg = echoing(lambda i: (g.call.bystander_echo(i) & BG).get(timeout=10))
    wait_until(lambda: fg.steps > 20 and bg.steps > 20, 10, "calls to the bystander")

    killed = time.monotonic()
    victim.signal(signal.SIGKILL)
    seen_after = []
    for future in pending:
        with pytest.raises(PeerUnavailable, match="'victim'") as caught:
            future.get(timeout=max(0.0, killed + 3 - time.monotonic()))
        assert caught.value.peer == "victim"  # type: ignore[attr-defined]
        seen_after.append(time.monotonic() - killed)
    for call in blocked:
        call.join(killed + 3)
        assert isinstance(call.error, PeerUnavailable) and call.error.peer == "victim"  # type: ignore[attr-defined]
        seen_after.append(call.ended_at - killed)
    assert max(seen_after) < 3

    during = fg.steps + bg.steps
    time.sleep(1)
    fg.stop()
    bg.stop()
    assert fg.errors == [] and bg.errors == []
    assert fg.steps + bg.steps > during
    print(
        f"\n[4] SIGKILLed callee: 12 pending calls failed with PeerUnavailable after {min(seen_after):.3f}-"
        f"{max(seen_after):.3f} s; calls to the other peer: {fg.steps} FG + {bg.steps} BG, 0 errors"
    )


# --------------------------------------------------------------------------------------- item 5


def test_nodes_rejoin_a_restarted_controller_within_5_s_and_links_work_through_the_outage(
    spawn: Spawn, peer: Peer, echoing: Echoing
) -> None:
    port = free_port()
    first = spawn(*_controller_args(port), module="controller")
    first.wait_line("controller listening")
    _own_peer(peer, "alpha", *_controller_args(port))
    _own_peer(peer, "beta", *_controller_args(port))
    with Global(process_name="main", host="127.0.0.1", port=port) as g:
        g.wait_function("alpha_echo", timeout=10)
        g.wait_function("beta_echo", timeout=10)
        traffic = [
            echoing(lambda i: g.call.alpha_echo(i) & FG),
            echoing(lambda i: (g.call.beta_echo(i) & BG).get(timeout=10)),
        ]
        wait_until(lambda: all(t.steps > 10 for t in traffic), 10, "calls before the outage")

        first.signal(signal.SIGKILL)
        first.popen.wait(5)
        before = [t.steps for t in traffic]
        time.sleep(2)
        assert all(t.steps > b + 10 for t, b in zip(traffic, before, strict=True)), "calls stalled in the outage"
        assert {"alpha", "beta"} <= _names(g)

        second = spawn(*_controller_args(port), module="controller")
        second.wait_line("controller listening")
        restarted = time.monotonic()
        with Global(process_name="newcomer", host="127.0.0.1", port=port) as newcomer:
            wait_until(lambda: {"main", "alpha", "beta"} <= _names(newcomer), 5, "the old nodes rejoined")
            rejoined = time.monotonic() - restarted
            wait_until(lambda: "newcomer" in _names(g), 5 - rejoined, "an old node hears of a new one")
            assert newcomer.call.alpha_whoami() & FG == "alpha"
        for t in traffic:
            t.stop()
            assert t.errors == []
    later = sum(t.steps for t in traffic) - sum(before)
    print(
        f"\n[5] controller restarted: the 3 old nodes were in the new controller's view {rejoined:.2f} s after it "
        f"listened; {sum(before)} calls before the outage, {later} later, 0 errors"
    )


# --------------------------------------------------------------------------------------- item 6


def test_callers_killed_mid_call_leave_nothing_behind_on_the_callee(spawn: Spawn, peer: Peer) -> None:
    """10 caller processes of 100 links each (1,000 links, 2,000 calls) killed while their calls run."""
    _, address = peer("--name", "callee", "--listen", f"127.0.0.1:{free_port()}", "--controller")
    with Global(process_name="probe", peers=[address], listen="127.0.0.1:0") as g:
        g.wait_process("callee", timeout=10)

        def vitals() -> dict[str, int]:
            result: dict[str, int] = g.call.vitals().fg(timeout=10)
            return result

        idle = vitals()

        def kill_a_caller(callback_name: str, arg: str) -> None:
            caller = spawn(
                "links", "--peer", address, "--peer-name", "callee", "--links", "100", "--calls", "2",
                "--callback", callback_name, "--arg", arg, module="tests._support.caller",
            )  # fmt: skip
            caller.wait_line("SENT")
            wait_until(lambda: vitals()["in_flight"] >= idle["in_flight"] + 200, 20, "200 calls on the callee")
            caller.signal(signal.SIGKILL)
            caller.popen.wait(5)

        def settled() -> bool:
            now = vitals()
            return all(now[k] <= idle[k] for k in ("in_flight", "links", "members", "tasks"))

        # Sync calls finish in worker threads after their caller died; async ones are cancelled.
        kinds = [("sleep", "0.2"), ("async_sleep", "60")]
        for kind in kinds:
            kill_a_caller(*kind)
        wait_until(settled, 10, "the callee back to idle after the warm-up")
        warm = vitals()
        for cycle in range(10):
            kill_a_caller(*kinds[cycle % 2])
        settle_time = wait_until(settled, 10, "the callee back to idle")
        end = vitals()
    # Worker threads are started as sync calls need them, up to max_workers (32), and then kept.
    assert end["workers"] <= 32
    assert end["threads"] - end["workers"] <= warm["threads"] - warm["workers"]
    growth = end["rss"] - warm["rss"]
    assert growth < 25 * 2**20, f"callee RSS grew by {growth / 2**20:.1f} MiB over 1,000 killed caller links"
    print(
        f"\n[6] 1,000 caller links killed mid-call (2,000 calls): callee idle again {settle_time:.2f} s after the "
        f"last kill; tasks {idle['tasks']} -> {end['tasks']}, threads {warm['threads']} -> {end['threads']} "
        f"(workers {warm['workers']} -> {end['workers']}), "
        f"links {idle['links']} -> {end['links']}, RSS {warm['rss'] / 2**20:.1f} -> {end['rss'] / 2**20:.1f} MiB"
    )


# --------------------------------------------------------------------------------------- item 7


@pytest.fixture(params=["controller", "main-dials", "victim-dials"])
def hung_pair(request: pytest.FixtureRequest, peer: Peer) -> Iterator[tuple[Global, Proc]]:
    """A node here and a victim peer, met through a controller or linked by an explicit address (so the
    node here is the client or the server of the link)."""
    if request.param == "controller":
        port = free_port()
        g = Global(process_name="main", init_controller=True, host="127.0.0.1", port=port)
        victim, _ = _own_peer(peer, "victim", *_controller_args(port))
    elif request.param == "main-dials":
        victim, address = _own_peer(peer, "victim", "--listen", f"127.0.0.1:{free_port()}", "--controller")
        g = Global(process_name="main", peers=[address], listen="127.0.0.1:0")
    else:
        g = Global(process_name="main", init_controller=True, host="127.0.0.1", port=free_port())
        victim, _ = _own_peer(peer, "victim", "--peer", g.address, "--listen", "127.0.0.1:0")
    try:
        g.wait_function("victim_whoami", timeout=10)
        yield g, victim
    finally:
        victim.signal(signal.SIGCONT)
        g.stop()


def test_hung_peer_fails_pending_calls_within_4_s_and_is_called_again_after_it_resumes(
    hung_pair: tuple[Global, Proc],
) -> None:
    g, victim = hung_pair
    assert g.call.victim_whoami() & FG == "victim"
    pending = [g.call.victim_async_sleep(30) & BG for _ in range(5)]
    blocked = Blocked(lambda: g.call.victim_sleep(30) & FG)
    wait_until(lambda: (g.call.victim_vitals() & FG)["in_flight"] >= 7, 5, "6 calls running on the victim")

    stopped = time.monotonic()
    victim.signal(signal.SIGSTOP)
    seen_after = []
    for future in pending:
        with pytest.raises(PeerUnavailable, match="'victim'"):
            future.get(timeout=max(0.0, stopped + 4 - time.monotonic()))
        seen_after.append(time.monotonic() - stopped)
    blocked.join(stopped + 4)
    assert isinstance(blocked.error, PeerUnavailable) and blocked.error.peer == "victim"  # type: ignore[attr-defined]
    seen_after.append(blocked.ended_at - stopped)
    assert max(seen_after) < 4
    asked = time.monotonic()
    with pytest.raises((PeerUnavailable, UnknownCallback), match="victim"):
        g.call.victim_whoami() & FG
    refused_in = time.monotonic() - asked
    assert refused_in < 4

    victim.signal(signal.SIGCONT)
    resumed = time.monotonic()

    def answers() -> bool:
        try:
            return bool(g.call.victim_whoami().fg(timeout=2) == "victim")
        except (PeerUnavailable, UnknownCallback):
            return False

    back_in = wait_until(answers, 10, "calls to the resumed peer")
    assert [g.call.victim_add(i, 1) & FG for i in range(5)] == [1, 2, 3, 4, 5]
    print(
        f"\n[7] SIGSTOPped peer: pending calls failed with PeerUnavailable after {min(seen_after):.2f}-"
        f"{max(seen_after):.2f} s, a new call was refused in {refused_in:.3f} s; after SIGCONT calls worked "
        f"again in {back_in:.2f} s (since {resumed - stopped:.1f} s after the stop)"
    )


# --------------------------------------------------------------------------------------- item 8


def test_callee_stopped_under_1000_calls_returns_within_grace_and_every_call_ends(
    controller: Callable[[], tuple[Proc, int]], spawn: Spawn
) -> None:
    grace = 3.0

    @callback
    async def job(shortest: float, longest: float) -> float:
        await asyncio.sleep(random.uniform(shortest, longest))
        return longest

    @callback
    def sync_job(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    _, port = controller()
    callee = Global(process_name="callee", host="127.0.0.1", port=port, stop_grace=grace)
    try:
        callers = [
            spawn(
                "burst",
                "--port",
                str(port),
                "--name",
                name,
                "--calls",
                str(calls),
                "--wait",
                "20",
                "--callback",
                callback_name,
                *args,
                module="tests._support.caller",
            )
            for name, calls, callback_name, args in (
                ("async-caller", 1000, "job", ("--args", "2", "6")),
                ("sync-caller", 100, "sync_job", ("--args", "0.5")),
            )
        ]
        for caller in callers:
            caller.wait_line("SENT")
        wait_until(lambda: callee.statistics()["in_flight"] >= 1000, 20, "1,000 calls in flight on the callee")
        in_flight = callee.statistics()["in_flight"]
        started = time.monotonic()
        callee.stop()
        took = time.monotonic() - started
    finally:
        callee.stop()
    assert took < grace + 1.0
    outcomes = [collections.Counter(json.loads(c.wait_line("OUTCOMES", 15).split(maxsplit=1)[1])) for c in callers]
    for outcome, calls in zip(outcomes, (1000, 100), strict=True):
        assert set(outcome) <= {"value", "PeerUnavailable"}, outcome
        assert outcome.total() == calls
    assert outcomes[0]["value"] > 0 and outcomes[0]["PeerUnavailable"] > 0
    print(
        f"\n[8] callee stop() with {in_flight} calls in flight and grace {grace} s returned in {took:.2f} s; "
        f"outcomes: {dict(outcomes[0])} (async), {dict(outcomes[1])} (sync)"
    )


def test_caller_stopped_with_1000_calls_in_flight_returns_within_grace_and_every_call_ends(
    controller: Callable[[], tuple[Proc, int]], peer: Peer, echoing: Echoing
) -> None:
    grace = 1.5
    _, port = controller()
    g = Global(process_name="main", host="127.0.0.1", port=port, stop_grace=grace)
    try:
        _own_peer(peer, "callee", *_controller_args(port))
        g.wait_function("callee_async_sleep", timeout=10)
        # Half the calls end 1 s from now, within the grace period; the other half would run for 30 s.
        ends = time.monotonic() + 1.0
        pending = [g.call.callee_async_sleep(30 if i % 2 else ends - time.monotonic()) & BG for i in range(1000)]
        blocked = [Blocked(lambda: g.call.callee_async_sleep(30) & FG) for _ in range(4)]
        traffic = echoing(lambda i: g.call.callee_echo(i) & FG)
        wait_until(lambda: g.statistics()["in_flight"] >= 1000, 10, "1,000 calls in flight")
        in_flight = g.statistics()["in_flight"]
        started = time.monotonic()
        g.stop()
        took = time.monotonic() - started
    finally:
        g.stop()
    traffic.stop()  # its calls now fail at once: stopped here, not after the checks, it makes few of them
    assert took < grace + 1.0
    outcomes: collections.Counter[str] = collections.Counter()
    for future in pending:
        try:
            future.get(timeout=1)
            outcomes["value"] += 1
        except NodeStopped:
            outcomes["NodeStopped"] += 1
    assert outcomes["value"] > 0 and outcomes["NodeStopped"] > 0, (outcomes, took)
    for call in blocked:
        call.join(time.monotonic() + 1)
        assert isinstance(call.error, NodeStopped)
    assert traffic.steps > 0 and {type(e) for e in traffic.errors} == {NodeStopped}
    print(
        f"\n[8] caller stop() with {in_flight} calls in flight and grace {grace} s returned in {took:.2f} s; "
        f"outcomes: {dict(outcomes)}, 4 FG calls and the FG traffic ended with NodeStopped"
    )
