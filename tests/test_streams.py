"""STREAM and ``stream(...)``: items as a callback yields them, arguments as the caller's iterable yields them,
with flow control, against a peer process over TCP and UNIX sockets, from sync and async code. (How streams
end, by the caller's or the callee's doing, is in tests/test_stream_endings.py.)"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from mesh import (
    BG,
    FG,
    NO_RETURN,
    PERIOD,
    STREAM,
    Batch,
    Global,
    SerializationError,
    Stream,
    UnknownCallback,
    UsageError,
    callback,
    stream,
)
from mesh.wire._codec import encode
from tests._support.main_node import main_node
from tests._support.proc import Proc
from tests._support.procinfo import rss
from tests._support.shapes import Refused
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(90)

MiB = 1024 * 1024


@pytest.fixture(params=["tcp", "unix"])
def pair(request: pytest.FixtureRequest, peer: Callable[..., tuple[Proc, str]]) -> Iterator[Global]:
    """Node 'main' (with the controller) here, node 'w1' in a peer process."""
    g, where = main_node(request.param)
    try:
        peer("--name", "w1", *where)
        g.wait_process("w1", timeout=10)
        yield g
    finally:
        g.stop()


def test_items_come_as_the_callback_yields_them(pair: Global) -> None:
    g = pair
    items = g.call.numbers(5) & STREAM
    assert isinstance(items, Stream)
    assert list(items) == [0, 1, 2, 3, 4]
    assert list(g.call.anumbers(5) & STREAM) == [0, 1, 2, 3, 4]
    assert list(g.call.listed(4).stream()) == [0, 1, 2, 3]
    assert list(g.call.numbers(0) & STREAM(timeout=5, receiver="w1")) == []
    assert list(g.call.numbers(3).stream(timeout="5s", window=1, window_bytes=1)) == [0, 1, 2]
    assert sum(g.call.numbers(10_000) & STREAM) == sum(range(10_000))


def test_an_exception_comes_after_the_items_before_it(pair: Global) -> None:
    g = pair
    for name in ("numbers", "anumbers"):
        got = []
        with pytest.raises(Refused, match="no 3"):
            for item in getattr(g.call, name)(10, fail_at=3) & STREAM:
                got.append(item)
        assert got == [0, 1, 2]


def test_the_producer_stays_within_the_window_and_memory_stays_flat(pair: Global) -> None:
    """An endless generator and a consumer that sleeps: the generator is never more than ``window`` items
    ahead of what was taken, and neither process grows."""
    g = pair
    size = 256 * 1024
    window = 6
    taken = 0
    peer_rss: list[int] = []
    own_rss: list[int] = []
    with g.call.endless_chunks("slow", size) & STREAM(window=window, window_bytes=64 * MiB) as chunks:
        for chunk in chunks:
            assert chunk == bytes([taken % 256]) * size
            taken += 1
            time.sleep(0.002)
            if taken % 50 == 0:
                record = g.call.stream_record("slow") & FG
                # `produced` counts the items yielded before the one the generator is suspended at.
                assert record["produced"] + 1 - taken <= window
                peer_rss.append((g.call.vitals() & FG(receiver="w1"))["rss"])
                own_rss.append(rss())
            if taken == 600:
                break
    time.sleep(0.3)
    record = g.call.stream_record("slow") & FG
    assert record["closed"]
    assert record["produced"] + 1 <= 600 + window
    # 150 MiB went through each process; what stays is a window's worth and the allocator's slack.
    assert max(peer_rss[2:]) - peer_rss[1] < 16 * MiB, peer_rss
    assert max(own_rss[2:]) - own_rss[1] < 16 * MiB, own_rss


def test_the_byte_window_holds_back_large_items(pair: Global) -> None:
    g = pair
    with g.call.endless_chunks("bytes", MiB) & STREAM(window=1000, window_bytes=4 * MiB) as chunks:
        first = next(iter(chunks))
        assert len(first) == MiB
        time.sleep(0.5)
        record = g.call.stream_record("bytes") & FG
        # 4 MiB of credit: four items, and one more that starts over the cap, are all it may send.
        assert 1 <= record["produced"] + 1 <= 5, record


def test_large_items_arrive_whole(pair: Global) -> None:
    g = pair
    seen = 0
    for i, chunk in enumerate(g.call.chunks(40, 3 * MiB + 7) & STREAM):
        assert len(chunk) == 3 * MiB + 7
        assert chunk[:1] * 4 == bytes([i % 256]) * 4 and chunk[-1] == i % 256
        seen += 1
    assert seen == 40


def test_streamed_arguments(pair: Global) -> None:
    g = pair
    assert g.call.total(stream(range(10_000))) & FG == sum(range(10_000))
    assert g.call.atotal(stream(iter(range(100)))) & FG(receiver="w1") == sum(range(100))
    assert g.call.total(stream([])) & FG == 0
    big = [bytes([i]) * (MiB + i) for i in range(12)]
    assert (g.call.sizes(stream(big, window=2)) & BG(timeout=30)).get(timeout=30) == [len(b) for b in big]
    assert g.call.sizes(stream(iter(big), window=2)).fg(timeout=30) == [len(b) for b in big]
    # Both at once: a transform.
    assert list(g.call.doubled(stream(range(50))) & STREAM) == [2 * i for i in range(50)]
    assert list(g.call.adoubled(stream(range(50))) & STREAM) == [2 * i for i in range(50)]


def test_batches_come_out_as_their_items(pair: Global) -> None:
    """A generator that yields Batch(items), or an iterable given to stream() that does, sends several
    items in one message; the receiving loop sees the items, one by one, never the Batch."""
    g = pair
    assert list(g.call.batched(10, 3) & STREAM) == list(range(10))
    assert list(g.call.abatched(10_000, 1000) & STREAM(window=2)) == list(range(10_000))
    got = []
    with pytest.raises(Refused, match="no 7"):
        for item in g.call.batched(10, 3, fail_at=7) & STREAM:
            got.append(item)
    assert got == list(range(6))
    batches = (Batch(range(first, first + 100)) for first in range(0, 10_000, 100))
    assert g.call.total(stream(batches, window=4)) & FG == sum(range(10_000))
    assert g.call.atotal(stream([Batch([1, 2]), 3, Batch([]), Batch([4])])) & FG == 10
    assert list(g.call.doubled(stream([Batch([1, 2]), 3])) & STREAM) == [2, 4, 6]

    async def scenario() -> None:
        assert [x async for x in g.call.batched(5, 2) & STREAM] == [0, 1, 2, 3, 4]

    asyncio.run(scenario())
    assert repr(Batch(range(3))) == "Batch(<3 items>)"


def test_a_streamed_argument_stays_within_its_window(pair: Global) -> None:
    """The callee takes nothing for a while: the caller's generator is not drawn more than ``window`` ahead."""
    g = pair
    produced = 0

    def items() -> Iterator[int]:
        nonlocal produced
        while True:
            produced += 1
            yield produced

    result = g.call.hold(stream(items(), window=5), 0.5) & BG
    time.sleep(0.4)
    assert 1 <= produced <= 6, produced
    assert result.get(timeout=10) == 1


def test_async_code_iterates_with_async_for(pair: Global) -> None:
    """An async program on another loop than the node's: ``async for`` and async iterables as arguments."""
    g = pair

    async def numbers(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def scenario() -> None:
        assert [x async for x in g.call.numbers(5) & STREAM] == [0, 1, 2, 3, 4]
        assert [x async for x in g.call.anumbers(5).stream(timeout=5)] == [0, 1, 2, 3, 4]
        assert await g.call.total(stream(numbers(100))) & FG == sum(range(100))
        assert [x async for x in g.call.adoubled(stream(numbers(5))) & STREAM] == [0, 2, 4, 6, 8]
        got = []
        with pytest.raises(Refused):
            async for item in g.call.anumbers(9, fail_at=2) & STREAM:
                got.append(item)
        assert got == [0, 1]

    asyncio.run(scenario())


@callback
def countdown(n: int) -> Iterator[int]:
    yield from range(n, 0, -1)


@callback
async def acountdown(n: int) -> AsyncIterator[int]:
    for i in range(n, 0, -1):
        yield i


@callback
def chunked(n: int) -> Iterator[Batch]:
    yield Batch(range(n // 2))
    yield Batch(range(n // 2, n))


@callback
def summed(items: Any) -> int:
    return sum(items)


@callback
async def asummed(items: Any) -> int:
    return sum([i async for i in items])


def test_streams_with_the_node_itself() -> None:
    """A call that runs on the calling node streams too: items and arguments are handed over, not encoded."""
    with Global(process_name="solo", init_controller=True) as g:
        assert list(g.call.countdown(3) & STREAM) == [3, 2, 1]
        assert list(g.call.acountdown(3) & STREAM) == [3, 2, 1]
        assert g.call.summed(stream(range(1000))) & FG == sum(range(1000))
        assert g.call.asummed(stream(range(1000))) & FG == sum(range(1000))
        assert g.call.asummed(stream([Batch(range(500)), Batch(range(500, 1000))])) & FG == sum(range(1000))
        assert list(g.call.chunked(5) & STREAM) == [0, 1, 2, 3, 4]
        items = g.call.countdown(10**9) & STREAM(window=4)
        assert next(iter(items)) == 10**9
        items.close()

        async def scenario() -> None:
            assert [x async for x in g.call.acountdown(3) & STREAM] == [3, 2, 1]

        asyncio.run(scenario())


def test_async_program_on_the_nodes_own_loop() -> None:
    """A node on the program's loop: ``async for`` works, and a plain ``for`` says it would block."""

    async def scenario() -> None:
        async with Global(process_name="solo", init_controller=True) as g:
            assert [x async for x in g.call.countdown(3) & STREAM] == [3, 2, 1]
            assert [x async for x in g.call.acountdown(3) & STREAM] == [3, 2, 1]
            assert await g.call.asummed(stream(range(10))) & FG == 45
            with pytest.raises(UsageError, match="async for"):
                for _ in g.call.countdown(3) & STREAM:
                    pass

    asyncio.run(scenario())


def test_mistakes_get_clear_errors(pair: Global) -> None:
    g = pair
    with pytest.raises(UsageError, match="returned int, not items to stream"):
        list(g.call.add(1, 2) & STREAM)
    with pytest.raises(UsageError, match=r"yields its items: call it with & STREAM"):
        g.call.numbers(3) & FG
    with pytest.raises(UsageError, match="stream\\(\\) takes an iterable"):
        stream(42)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="window must be a positive whole number"):
        STREAM(window=0)
    with pytest.raises(UsageError, match="window_bytes must be a positive whole number"):
        stream([1], window_bytes=-1)
    with pytest.raises(UsageError, match="not NO_RETURN"):
        g.call.total(stream([1])) & NO_RETURN
    with pytest.raises(UsageError, match="not PERIOD"):
        g.call.total(stream([1])) & PERIOD(period=1)
    with pytest.raises(SerializationError, match="iterator cannot be pickled"):
        g.call.echo(stream([1])) & FG
    with pytest.raises(SerializationError, match="only be an argument of a call"):
        encode(stream([1]), MiB, "result")
    with pytest.raises(UnknownCallback, match="w9"):
        g.call.numbers(3) & STREAM(receiver="w9")
    with pytest.raises(UnknownCallback):
        g.call.no_such_generator() & STREAM
    used = stream([1, 2])
    assert g.call.total(used) & FG == 3
    with pytest.raises(SerializationError, match="already sent"):
        g.call.total(used) & FG


def test_an_abandoned_stream_stops_its_producer(pair: Global) -> None:
    """A Stream dropped before its end (never iterated to it) closes the callee's generator."""
    g = pair
    items = g.call.endless("dropped") & STREAM(window=4)
    assert next(iter(items)) == 0
    del items
    wait_until(lambda: (g.call.stream_record("dropped") & FG)["closed"], 1, "the generator closed")


def test_many_streams_at_once(pair: Global) -> None:
    """Streams share the one link: 8 threads each take their own stream, interleaved."""
    g = pair
    results: dict[int, list[int]] = {}

    def take(i: int) -> None:
        results[i] = list(g.call.numbers(500 + i) & STREAM(window=3))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert {i: len(items) for i, items in results.items()} == {i: 500 + i for i in range(8)}
    assert all(items == list(range(500 + i)) for i, items in results.items())
