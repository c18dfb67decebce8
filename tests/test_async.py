"""The async face: a node on the program's own event loop, awaited modifiers, async callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from mesh import (
    BG,
    BROADCAST,
    FG,
    NO_RETURN,
    PERIOD,
    BadArguments,
    CallTimeout,
    Global,
    ScheduledCall,
    UnknownCallback,
    UsageError,
    callback,
)
from tests._support.loops import loop_of_async
from tests._support.proc import Proc, free_port
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)


# An async program's node runs on whatever loop the program runs: asyncio's own, or uvloop's.
@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_awaited_modifiers_on_the_programs_loop(
    peer: Callable[..., tuple[Proc, str]], run: Callable[[Coroutine[Any, Any, None]], None]
) -> None:
    port = free_port()

    async def scenario() -> None:
        g = Global(process_name="main", init_controller=True, host="127.0.0.1", port=port)
        try:
            assert await loop_of_async(g) is asyncio.get_running_loop()
            await asyncio.to_thread(peer, "--name", "peer", "--host", "127.0.0.1", "--port", str(port))
            await g.wait_process("peer", timeout=10)
            assert await g.call.add(1, 2) & FG == 3
            assert await g.call.add(1, 2) & FG(timeout=5) == 3
            modifier = FG(timeout=5)
            assert await g.call.add(3, 4) & modifier == 7
            assert await (g.call.async_add(5, 5) & FG) == 10
            assert await g.call.add(2, 2).fg(timeout=5) == 4
            assert await g.call.add(20, 1) == 21

            future = g.call.sleep(0.2) & BG
            assert not future.done()
            assert await future.get_async(timeout=5) == 0.2
            assert await (g.call.add(1, 1) & BG) == 2
            with pytest.raises(UsageError, match="get_async"):
                (g.call.add(1, 1) & BG).get()

            with pytest.raises(CallTimeout):
                await g.call.sleep(2) & FG(timeout=0.2)
            assert g.statistics()["timeouts"] == 0, "an answered or expired call left its deadline behind"

            g.call.bump() & NO_RETURN
            schedule = await g.call.tick() & PERIOD(period=0.1)
            assert isinstance(schedule, ScheduledCall)
            await asyncio.sleep(0.5)
            schedule.cancel()
            assert await g.call.ticks() & FG >= 3
            assert await g.call.count() & FG == 1
            assert await g.call.whoami() & BROADCAST(return_result=True) == {"peer": "peer"}

            # Calls made by one coroutine reach the callee in the order they were made, whatever the modifier.
            modifiers = [NO_RETURN, BG, BROADCAST]
            pending = [g.call.note(i) & modifiers[i % 3] for i in range(12)]
            for result in pending:
                if result is not None:
                    await result
            assert await g.call.notes() & FG == list(range(12))
        finally:
            await g.stop_async()

    run(scenario())


def test_a_broadcast_whose_last_provider_left_is_logged_not_raised_on_the_loop(
    peer: Callable[..., tuple[Proc, str]], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()

    async def scenario() -> None:
        async with Global(process_name="main", init_controller=True, host="127.0.0.1", port=port) as g:
            proc, _ = await asyncio.to_thread(peer, "--name", "peer", "--host", "127.0.0.1", "--port", str(port))
            await g.wait_function("whoami", timeout=10)
            # The caller's check passes: the peer offers it. It leaves before the call is sent.
            g.call.whoami() & BROADCAST(eta=2)
            proc.signal(signal.SIGKILL)
            # The controller drops a killed node at once: well before the eta.
            await asyncio.to_thread(wait_until, lambda: "peer" not in {m["name"] for m in g.members()}, 1.5, "left")
            await asyncio.to_thread(wait_until, lambda: "dropped" in caplog.text, 5, "the BROADCAST dropped")

    with caplog.at_level(logging.WARNING, logger="mesh"):
        asyncio.run(scenario())
    assert "BROADCAST of 'whoami' dropped: no node offers it any more" in caplog.text


def test_async_with_and_join_async() -> None:
    @callback
    async def async_local(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    async def scenario() -> None:
        async with Global(process_name="solo", init_controller=True) as g:
            waiter = asyncio.create_task(g.join_async())
            assert await g.call.async_local(1) & FG == 2
            assert not waiter.done()
            await g.stop()
            await asyncio.wait_for(waiter, 5)

    asyncio.run(scenario())


def test_calls_made_before_the_node_started_wait_for_it(peer: Callable[..., tuple[Proc, str]]) -> None:
    """As in daffi's Process2: a BG call right after Global() in async code, before any await."""
    port = free_port()
    peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port), "--controller")

    async def scenario() -> None:
        g = Global(process_name="late", host="127.0.0.1", port=port)
        future = g.call.add(40, 2) & BG
        try:
            assert await future.get_async(timeout=10) == 42
        finally:
            await g.stop_async()

    asyncio.run(scenario())


def test_sync_global_awaited_from_another_loop(peer: Callable[..., tuple[Proc, str]]) -> None:
    port = free_port()
    g = Global(process_name="main", init_controller=True, host="127.0.0.1", port=port)
    try:
        peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port), "--async")
        g.wait_process("peer", timeout=10)

        async def from_other_loop() -> None:
            assert await g.call.add(1, 2) & FG == 3
            assert await (g.call.add(2, 3) & BG).get_async(5) == 5
            assert await g.call.whoami() & BROADCAST(return_result=True) == {"peer": "peer"}

        asyncio.run(from_other_loop())
        started = time.monotonic()
        assert g.call.async_sleep(0.1) & FG == 0.1
        assert time.monotonic() - started < 5
    finally:
        g.stop()


async def _runs_until_cancelled(g: Global, schedule: ScheduledCall, seconds: float) -> int:
    """The runs of ``tick`` on the peer in ``seconds``, after which ``schedule.cancel()`` must end them."""
    start: int = await g.call.ticks() & FG
    await asyncio.sleep(seconds)
    schedule.cancel()
    await asyncio.sleep(0.2)
    ran: int = await g.call.ticks() & FG
    await asyncio.sleep(0.3)
    assert await g.call.ticks() & FG == ran, "the schedule kept running after cancel()"
    return ran - start


def test_period_in_async_code_gives_its_handle_at_once(
    peer: Callable[..., tuple[Proc, str]], caplog: pytest.LogCaptureFixture
) -> None:
    """As NO_RETURN and BG do: no await needed for the schedule to exist, and cancel() works at once."""
    port = free_port()
    peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port), "--controller")

    async def scenario() -> None:
        g = Global(process_name="async-scheduler", host="127.0.0.1", port=port)
        try:
            # Made before the node has started, never awaited: the schedule still runs.
            sc = g.call.tick() & PERIOD(period=0.1)
            assert isinstance(sc, ScheduledCall)
            await g.wait_process("peer", timeout=10)
            assert await _runs_until_cancelled(g, sc, 0.6) >= 3, "a PERIOD that nobody awaited did not run"

            # Cancelled while still being set up: it never runs.
            before = await g.call.ticks() & FG
            (g.call.tick() & PERIOD(period=0.05)).cancel()
            g.call.tick().period(at_time="100ms").cancel()
            await asyncio.sleep(0.5)
            assert await g.call.ticks() & FG == before

            # Awaiting the handle waits for the callee's acknowledgement, and raises what failed.
            acknowledged = g.call.tick() & PERIOD(period=60)
            assert await acknowledged is acknowledged
            assert "on 'peer'" in repr(acknowledged)
            acknowledged.cancel()
            with pytest.raises(BadArguments):
                await (g.call.tick(1, 2) & PERIOD(period=60))
            with pytest.raises(UnknownCallback, match="did you mean 'tick'"):
                g.call.tik() & PERIOD(period=60)

            # A waiter that gives up leaves the setup alone: the schedule exists, and its handle ends it.
            given_up = g.call.tick() & PERIOD(period=0.05)
            waiter = asyncio.ensure_future(given_up)
            await asyncio.sleep(0)  # the waiter waits, and the callee's answer cannot be back yet
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            assert await _runs_until_cancelled(g, given_up, 0.4) >= 3, "giving up cancelled the schedule"

            # A failure nobody awaits is logged, not dropped.
            with caplog.at_level(logging.ERROR, logger="mesh"):
                g.call.tick("unexpected") & PERIOD(period=60)
                for _ in range(50):
                    if "nothing awaited its ScheduledCall" in caplog.text:
                        break
                    await asyncio.sleep(0.05)
            assert "PERIOD call of 'tick' failed, and nothing awaited its ScheduledCall: BadArguments" in caplog.text
        finally:
            await g.stop_async()

    asyncio.run(scenario())
