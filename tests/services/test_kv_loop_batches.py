"""The batching of the Redis backend's reads on the node's loop: a lone item goes at once as a batch
of its own, the items that come while a batch is out share the next, in order, and a batch that fails
fails each of its items."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from mesh import UsageError
from mesh.services.kv.backends._batches import Outcome
from mesh.services.kv.backends._loop_batches import LoopBatches

pytestmark = pytest.mark.timeout(30)


class Doubler:
    """Doubles each item after a short wait (a round trip), recording the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def __call__(self, items: list[Any]) -> Sequence[Outcome]:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)
        return [(None, ValueError(f"odd {item}")) if item == "odd" else (2 * item, None) for item in items]


def test_lone_items_go_at_once_each_in_a_batch_of_its_own() -> None:
    apply = Doubler()
    batches = LoopBatches("test", apply)

    async def main() -> list[int]:
        return [await batches.submit(n) for n in range(5)]

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]
    assert apply.batches == [[0], [1], [2], [3], [4]]
    assert (batches.applied, batches.batches) == (5, 5)


def test_items_that_come_while_a_batch_is_out_share_the_next_in_order() -> None:
    apply = Doubler()
    batches = LoopBatches("test", apply)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(batches.submit(n) for n in range(300))))

    assert asyncio.run(main()) == [2 * n for n in range(300)]
    assert apply.batches[0] == [0]
    assert [item for batch in apply.batches for item in batch] == list(range(300))
    assert len(apply.batches) == 2


def test_an_items_error_is_its_own_and_a_failed_batch_fails_each_of_its_items() -> None:
    apply = Doubler()
    batches = LoopBatches("test", apply)

    async def failing(items: list[Any]) -> Sequence[Outcome]:
        raise ConnectionError("the server went away")

    async def main() -> tuple[list[Any], list[Any]]:
        items = (batches.submit(1), batches.submit("odd"), batches.submit(3))
        mixed = await asyncio.gather(*items, return_exceptions=True)
        broken = LoopBatches("broken", failing)
        lost = await asyncio.gather(*(broken.submit(n) for n in range(3)), return_exceptions=True)
        return list(mixed), list(lost)

    mixed, lost = asyncio.run(main())
    assert mixed[0] == 2 and mixed[2] == 6
    assert isinstance(mixed[1], ValueError) and str(mixed[1]) == "odd odd"
    assert all(isinstance(error, ConnectionError) for error in lost)


def test_a_cancelled_caller_leaves_the_batches_working() -> None:
    apply = Doubler()
    batches = LoopBatches("test", apply)

    async def main() -> list[int]:
        first = asyncio.ensure_future(batches.submit(1))
        waiting = asyncio.ensure_future(batches.submit(2))
        await asyncio.sleep(0)
        first.cancel()
        return [await waiting, await batches.submit(3)]

    assert asyncio.run(main()) == [4, 6]


def test_the_batches_of_one_loop_refuse_another() -> None:
    batches = LoopBatches("kv-redis-reader", Doubler())
    assert asyncio.run(batches.submit(1)) == 2
    with pytest.raises(UsageError, match="kv-redis-reader: a kv backend serves the node of one event loop"):
        asyncio.run(batches.submit(2))
