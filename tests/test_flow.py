"""The receiving end of a stream (mesh.node._flow.Inlet) in one process: a consumer thread or coroutine
waiting for items is woken once per burst of pushes, and never left waiting for an item queued."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mesh.node._flow import Inlet, Wakeups

pytestmark = pytest.mark.timeout(30)


class _CountedWakeups(Wakeups):
    """Wakeups that count how often they were given."""

    __slots__ = ("given",)

    def __init__(self) -> None:
        super().__init__()
        self.given = 0

    def notify(self) -> None:
        self.given += 1
        super().notify()


def test_a_burst_of_items_wakes_the_consumer_once_and_each_empty_queue_again() -> None:
    inlet = Inlet(lambda items, nbytes: None, window=1000)
    wakes = inlet._wakeups = _CountedWakeups()
    for item in range(50):
        inlet.push(item)
    assert wakes.given == 1
    assert [inlet.take(timeout=1) for _ in range(50)] == list(range(50))
    inlet.push(50)
    inlet.push(51)
    assert wakes.given == 2
    assert [inlet.take(timeout=1), inlet.take(timeout=1)] == [50, 51]
    inlet.finish()
    assert list(inlet) == []


def test_a_waiting_thread_gets_every_item_of_bursts_pushed_from_another_thread() -> None:
    inlet = Inlet(lambda items, nbytes: None, window=8)
    got: list[int] = []
    consumer = threading.Thread(target=lambda: got.extend(inlet), daemon=True)
    consumer.start()
    for burst in range(200):
        for item in range(burst * 5, burst * 5 + 5):
            inlet.push(item)
    inlet.finish()
    consumer.join(10)
    assert not consumer.is_alive()
    assert got == list(range(1000))


def test_a_waiting_coroutine_gets_every_item_of_bursts_pushed_from_another_thread() -> None:
    inlet = Inlet(lambda items, nbytes: None, window=8)

    def produce() -> None:
        for burst in range(200):
            for item in range(burst * 5, burst * 5 + 5):
                inlet.push(item)
        inlet.finish()

    async def consume() -> list[int]:
        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        got = [item async for item in inlet]
        producer.join(10)
        return got

    assert asyncio.run(asyncio.wait_for(consume(), 10)) == list(range(1000))
