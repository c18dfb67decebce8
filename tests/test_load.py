"""Load: many BG calls from several processes, call ids past 16 bits, and a soak with a node joining and
leaving. The long versions are marked ``slow``; measured figures are printed (``pytest -s``)."""

from __future__ import annotations

import collections
import itertools
import json
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from mesh import BG, BROADCAST, FG, NO_RETURN, BroadcastError, Global, PeerUnavailable, UnknownCallback
from tests._support.proc import Proc, free_port
from tests._support.workers import Worker, wait_until

Peer = Callable[..., tuple[Proc, str]]
Spawn = Callable[..., Proc]
MiB = 2**20


def _remote(g: Global, name: str) -> Any:
    """``g.call.<name>``, for names that are not identifiers."""
    return getattr(g.call, name)


# -------------------------------------------------------------------------------------- item 11


@pytest.mark.parametrize(
    "total",
    [
        pytest.param(20_000, id="20k", marks=pytest.mark.timeout(180)),
        pytest.param(1_000_000, id="1M", marks=[pytest.mark.slow, pytest.mark.timeout(3600)]),
    ],
)
def test_bg_calls_from_8_callers_in_2_processes_are_each_delivered_once(
    total: int, controller: Callable[[], tuple[Proc, int]], peer: Peer, spawn: Spawn
) -> None:
    _, port = controller()
    where = ("--host", "127.0.0.1", "--port", str(port))
    callees = ("callee1", "callee2")
    for name in callees:
        peer("--name", name, "--own", *where)

    def run_callers(names: list[str], threads: int, calls: int) -> list[dict[str, Any]]:
        callers = [
            spawn(
                "load",
                "--name",
                name,
                "--callees",
                ",".join(callees),
                "--threads",
                str(threads),
                "--calls",
                str(calls),
                "--window",
                "250",
                "--port",
                str(port),
                module="tests._support.caller",
            )
            for name in names
        ]
        reports = []
        for caller in callers:
            line = caller.wait_line("DONE", timeout=3000 if total > 100_000 else 120)
            reports.append(json.loads(line.split(maxsplit=1)[1]))
        return reports

    with Global(process_name="observer", host="127.0.0.1", port=port) as g:
        for name in callees:
            g.wait_function(f"{name}_tallies", timeout=10)

        def vitals(name: str) -> dict[str, int]:
            result: dict[str, int] = _remote(g, f"{name}_vitals")().fg(timeout=30)
            return result

        run_callers(["warm-up"], 2, 2_000)
        idle = {name: vitals(name) for name in callees}
        per_thread = total // 8
        reports = run_callers(["caller0", "caller1"], 4, per_thread)
        seconds = max(r["seconds"] for r in reports)

        for report in reports:
            assert report["errors"] == []
            assert all(count == per_thread for count in report["results"].values()), report["results"]
            assert report["in_flight"] == 0
        served = {n: sum(r["by_callee"].get(n, 0) for r in reports) for n in callees}
        assert all(served.values()), served
        tallies: dict[str, list[int]] = {}
        for name in callees:
            for caller, sums in _remote(g, f"{name}_tallies")().fg(timeout=30).items():
                merged = tallies.setdefault(caller, [0, 0, 0])
                for k in range(3):
                    merged[k] += sums[k]
        n = per_thread
        # Each caller thread's sequence numbers 0..n-1 were run exactly once between the two callees.
        expected = [n, n * (n - 1) // 2, (n - 1) * n * (2 * n - 1) // 6]
        for i, t in itertools.product(range(2), range(4)):
            assert tallies[f"caller{i}/{t}"] == expected

        end = {}
        for name in callees:
            wait_until(lambda name=name: vitals(name)["in_flight"] <= idle[name]["in_flight"], 10, "callee idle")
            end[name] = vitals(name)
    for name in callees:
        growth = end[name]["rss"] - idle[name]["rss"]
        assert growth < 32 * MiB, f"{name} RSS grew by {growth / MiB:.1f} MiB"
        assert end[name]["tasks"] <= idle[name]["tasks"] + 2
    for report in reports:
        assert report["rss"] - report["rss_start"] < 64 * MiB
    print(
        f"\n[11] {8 * per_thread:,} BG calls from 8 callers in 2 processes to 2 callees in {seconds:.1f} s "
        f"({8 * per_thread / seconds:,.0f} calls/s), every result checked and run once; callee RSS "
        + ", ".join(f"{n} {idle[n]['rss'] / MiB:.1f} -> {end[n]['rss'] / MiB:.1f} MiB" for n in callees)
        + "; caller RSS "
        + ", ".join(f"{r['rss_start'] / MiB:.1f} -> {r['rss'] / MiB:.1f} MiB" for r in reports)
    )


@pytest.mark.timeout(120)
def test_more_than_65536_calls_in_flight_on_one_link_each_get_their_own_reply(peer: Peer) -> None:
    """A peer library misroutes replies past 65,536 calls in flight (16-bit call ids)."""
    port = free_port()
    peer("--name", "callee", "--controller", "--host", "127.0.0.1", "--port", str(port))
    calls = 70_000
    with Global(process_name="main", host="127.0.0.1", port=port) as g:
        g.wait_function("gate", timeout=10)
        # Link first: this test is about call ids, not about 70,000 calls waiting on one dial.
        assert g.call.held() & FG == 0
        started = time.monotonic()
        pending = [g.call.gate(i) & BG for i in range(calls)]
        wait_until(lambda: g.call.held() & FG == calls, 60, f"{calls} calls held on the callee at once")
        assert g.statistics()["links"] == 1 and g.statistics()["in_flight"] == calls
        g.call.open_gate() & FG
        wrong = [i for i, future in enumerate(pending) if future.get(timeout=60) != i]
        seconds = time.monotonic() - started
    assert wrong == []
    print(f"\n[11] {calls:,} calls in flight at once on one link, each answered with its own value, in {seconds:.1f} s")


# -------------------------------------------------------------------------------------- item 12


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


def _expected_for_the_leaver(exc: BaseException) -> bool:
    """Errors the leaving node may cause: it died or left mid-call, or its own callbacks are gone."""
    if isinstance(exc, PeerUnavailable):
        return exc.peer == "flapper"
    if isinstance(exc, UnknownCallback):
        return exc.name.startswith("flapper_")
    if isinstance(exc, BroadcastError):
        return set(exc.errors) == {"flapper"} and all(map(_expected_for_the_leaver, exc.errors.values()))
    return False


@pytest.mark.parametrize(
    "seconds",
    [
        pytest.param(10, id="10s", marks=[pytest.mark.slow, pytest.mark.timeout(120)]),
        pytest.param(60, id="60s", marks=[pytest.mark.slow, pytest.mark.timeout(300)]),
    ],
)
def test_soak_of_mixed_calls_while_a_node_joins_and_leaves(
    seconds: float, controller: Callable[[], tuple[Proc, int]], peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    _, port = controller()
    where = ("--host", "127.0.0.1", "--port", str(port))
    steady = ("steady1", "steady2")
    for name in steady:
        peer("--name", name, "--own", *where)
    with Global(process_name="main", host="127.0.0.1", port=port) as g:
        for name in steady:
            g.wait_function(f"{name}_echo", timeout=10)
        idle = {name: _remote(g, f"{name}_vitals")() & FG for name in steady}
        sent_no_return = [0]

        def fg(i: int) -> None:
            assert g.call.echo(i) & FG == i
            assert g.call.steady1_add(i, 1) & FG == i + 1
            if i % 10 == 0:
                assert g.call.flapper_echo(i) & FG == i

        def bg(i: int) -> None:
            futures = [(g.call.echo(i + k) & BG, i + k) for k in range(50)]
            futures.append((g.call.flapper_async_sleep(0) & BG, 0))
            for future, expected in futures:
                try:
                    assert future.get(timeout=10) == expected
                except (PeerUnavailable, UnknownCallback) as exc:
                    tolerate(exc)

        def no_return(i: int) -> None:
            g.call.steady2_bump() & NO_RETURN
            sent_no_return[0] += 1
            g.call.echo(i) & NO_RETURN
            time.sleep(0.001)

        def broadcast(i: int) -> None:
            names = g.call.whoami() & BROADCAST(return_result=True)
            assert {n: v for n, v in names.items() if n in steady} == {n: n for n in steady}
            g.call.tick() & BROADCAST
            time.sleep(0.01)

        expected_errors: list[BaseException] = []

        def tolerate(exc: Exception) -> None:
            if not _expected_for_the_leaver(exc):
                raise exc
            expected_errors.append(exc)

        def checked(step: Callable[[int], None]) -> Callable[[int], None]:
            def run(i: int) -> None:
                try:
                    step(i)
                except (PeerUnavailable, UnknownCallback, BroadcastError) as exc:
                    tolerate(exc)

            return run

        workers = [Worker(checked(step)) for step in (fg, bg, no_return, broadcast)]
        flaps = 0
        stops = itertools.cycle([signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                flapper, _ = peer("--name", "flapper", "--own", *where)
                g.wait_function("flapper_echo", timeout=10)
                time.sleep(1.5)
                flapper.signal(next(stops))
                flapper.popen.wait(10)
                wait_until(lambda: not any(m["name"] == "flapper" for m in g.members()), 5, "the flapper gone")
                flaps += 1
        finally:
            for worker in workers:
                worker.stop()
        unexpected = [e for w in workers for e in w.errors]
        assert unexpected == [], unexpected[:5]
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert logged == [], logged[:5]
        assert all(w.steps > 0 for w in workers)
        wait_until(lambda: g.call.steady2_count() & FG == sent_no_return[0], 10, "NO_RETURN calls to steady2")
        for name in steady:
            wait_until(
                lambda name=name: _remote(g, f"{name}_vitals")().fg(timeout=10)["in_flight"] <= idle[name]["in_flight"],
                10,
                f"{name} idle",
            )
            end = _remote(g, f"{name}_vitals")() & FG
            assert end["links"] <= idle[name]["links"]
    print(
        f"\n[12] {seconds} s soak, the flapper joined and left {flaps} times: "
        + ", ".join(
            f"{n} {w.steps} steps" for n, w in zip(("FG", "BG", "NO_RETURN", "BROADCAST"), workers, strict=True)
        )
        + f"; expected errors for the leaving node: {dict(collections.Counter(map(_kind, expected_errors)))}, 0 others"
    )
