"""The hand-off of calls from other threads to a node's loop: order, and holding back a thread that runs ahead."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from mesh.errors import NodeStopped
from mesh.node import _handoff
from mesh.node._handoff import QUEUE_LIMIT, Handoff


@pytest.fixture
def running_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-handoff-loop")
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.timeout(30)
def test_a_thread_flooding_the_loop_never_gets_more_than_the_limit_ahead(
    running_loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wait that ran out on a starved machine would let the thread on: this test is about the limit.
    monkeypatch.setattr(_handoff, "CATCH_UP_WAIT", 10.0)
    handoff = Handoff(running_loop)
    ran: list[int] = []
    behind: list[int] = []
    all_ran = threading.Event()
    total = 20 * QUEUE_LIMIT

    def record(i: int) -> None:
        ran.append(i)
        behind.append(len(handoff._queue))  # entries still waiting as this one runs
        if i == total - 1:
            all_ran.set()

    for i in range(total):
        handoff(record, i)
    assert all_ran.wait(10)
    assert ran == list(range(total))
    # One thread alone runs a GIL switch interval (thousands of entries) ahead without the limit.
    assert max(behind) < QUEUE_LIMIT


@pytest.mark.timeout(30)
def test_the_loop_itself_is_never_held_back(running_loop: asyncio.AbstractEventLoop) -> None:
    handoff = Handoff(running_loop)
    ran: list[int] = []
    total = 4 * QUEUE_LIMIT

    async def hand_in_from_the_loop() -> float:
        started = time.monotonic()
        for i in range(total):
            handoff(ran.append, i)
        return time.monotonic() - started

    # Holding the loop back for the loop to drain would wait out every bound: 3 * 512 * 50 ms.
    took = asyncio.run_coroutine_threadsafe(hand_in_from_the_loop(), running_loop).result(20)
    assert took < 5.0
    deadline = time.monotonic() + 10
    while len(ran) < total and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == list(range(total))


@pytest.mark.timeout(30)
def test_no_thread_waits_on_a_loop_that_is_not_running() -> None:
    loop = asyncio.new_event_loop()
    try:
        handoff = Handoff(loop)
        started = time.monotonic()
        for i in range(4 * QUEUE_LIMIT):
            handoff(print, i)
        # Waiting out the bound for each entry past the limit would take 3 * 512 * 50 ms.
        assert time.monotonic() - started < 5.0
        assert len(handoff._queue) == 4 * QUEUE_LIMIT
    finally:
        loop.close()


@pytest.mark.timeout(30)
def test_a_closed_handoff_runs_what_was_queued_and_refuses_the_rest(running_loop: asyncio.AbstractEventLoop) -> None:
    handoff = Handoff(running_loop)
    ran: list[int] = []
    held = threading.Event()
    closed = threading.Event()
    # The loop is held while two entries queue, and the close is due before their drain: only it runs them.
    running_loop.call_soon_threadsafe(held.wait, 10)
    running_loop.call_soon_threadsafe(lambda: (handoff.close("node 'n' is stopped"), closed.set()))
    handoff(ran.append, 1)
    handoff(ran.append, 2)
    held.set()
    assert closed.wait(10)
    assert ran == [1, 2]
    with pytest.raises(NodeStopped, match="node 'n' is stopped"):
        handoff(ran.append, 3)
    time.sleep(0.1)
    assert ran == [1, 2]
