"""How a stream ends (issue #20, part 1 "Ending"), with peer processes over TCP and UNIX sockets, from sync
and async callers, each case for a sync and an async generator on the callee:

- the caller goes (breaking out of the loop, ``close()``, a per-item timeout, its node's stop, its death):
  the callee's generator is closed, its ``finally`` run, within 1 s (on a peer, or on the stopping node itself);
- the callee fails (an exception mid-stream, its death): the caller's loop raises after the items before;
- a streamed argument ends either way: the caller's iterable raising, or the callee returning early.

The 1 s is polled on the callee's record of its generator (``stream_record``), from the moment it is due.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mesh import (
    BG,
    FG,
    STREAM,
    AsyncResult,
    CallCancelled,
    CallTimeout,
    Global,
    NodeStopped,
    PeerUnavailable,
    Stream,
    callback,
    stream,
)
from tests._support.main_node import main_node
from tests._support.proc import Proc
from tests._support.shapes import Refused

pytestmark = pytest.mark.timeout(30)

# The behaviour bound the issue names: a generator left by its caller is closed within this.
CLOSED_WITHIN = 1.0

FACES = ["sync", "async"]
# w1's generators that count what they produced and record their end: a sync one, an async one.
ENDLESS = ("endless", "aendless")


@dataclass
class Pair:
    """Node 'main' (with the controller) in this process, and node 'w1' in a peer process."""

    g: Global
    w1: Proc

    def joining(self) -> dict[str, Any]:
        """The arguments of a Global that joins this mesh."""
        address = self.g.controller_address
        if address.startswith("unix:"):
            return {}
        host, port = address.rsplit(":", 1)
        return {"host": host, "port": int(port)}

    def stream(self, callback: str, *args: Any, timeout: float | None = None, via: Global | None = None) -> Stream:
        """A STREAM call of w1's ``callback`` (made by node ``via``, else 'main')."""
        caller = via or self.g
        items: Stream = getattr(caller.call, callback)(*args) & STREAM(timeout=timeout, receiver="w1")
        return items

    def record(self, key: str) -> dict[str, Any]:
        """What w1's generator of stream ``key`` produced, and whether its ``finally`` ran."""
        result: dict[str, Any] = self.g.call.stream_record(key) & FG(timeout=5, receiver="w1")
        return result

    def closed_within_bound(self, since: float, *keys: str) -> None:
        """Fail unless w1 is seen to have closed the generators of streams ``keys`` by 1 s after ``since``
        (a ``time.monotonic()``)."""
        deadline = since + CLOSED_WITHIN
        for key in keys:
            while True:
                record = self.record(key)
                in_time = time.monotonic() < deadline
                if record.get("closed") or not in_time:
                    break
                time.sleep(0.01)
            assert record.get("closed") and in_time, (
                f"the generator of stream {key!r} on w1 was not closed within {CLOSED_WITHIN} s: {record}"
            )


@pytest.fixture(params=["tcp", "unix"])
def pair(request: pytest.FixtureRequest, peer: Callable[..., tuple[Proc, str]]) -> Iterator[Pair]:
    g, where = main_node(request.param)
    try:
        w1, _ = peer("--name", "w1", *where)
        g.wait_process("w1", timeout=10)
        g.call.pid() & FG(timeout=10, receiver="w1")  # the link is up: the first item's wait is for the item
        yield Pair(g, w1)
    finally:
        g.stop()


def run_async(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` as an async program does: on a loop of its own (not the node's), bounded."""
    asyncio.run(asyncio.wait_for(main(), 20))


# ---------------------------------------------------------------------- the caller goes


@pytest.mark.parametrize("face", [*FACES, "async node"])
def test_breaking_out_of_the_loop_closes_the_generator(pair: Pair, face: str) -> None:
    """Async code breaks out of ``async for`` on a loop of its own using main's node, or ("async node") on the
    loop of the node it made with ``async with Global(...)``."""
    taken: dict[str, list[int]] = {name: [] for name in ENDLESS}
    if face == "sync":
        for name in ENDLESS:
            for item in pair.stream(name, f"break-{name}"):
                taken[name].append(item)
                if item == 3:
                    break
            pair.closed_within_bound(time.monotonic(), f"break-{name}")
    else:

        async def take_and_break(via: Global) -> None:
            for name in ENDLESS:
                async for item in pair.stream(name, f"break-{name}", via=via):
                    taken[name].append(item)
                    if item == 3:
                        break
                # The program goes on: its loop, not its end, closes what the loop left.
                await asyncio.to_thread(pair.closed_within_bound, time.monotonic(), f"break-{name}")

        async def main() -> None:
            if face == "async":
                await take_and_break(pair.g)
                return
            async with Global(process_name="anode", **pair.joining()) as own:
                await own.wait_process("w1", timeout=10)
                await take_and_break(own)

        run_async(main)
    assert taken == {name: [0, 1, 2, 3] for name in ENDLESS}


@pytest.mark.parametrize("face", FACES)
def test_close_and_the_end_of_a_with_block_close_the_generator(pair: Pair, face: str) -> None:
    """The streams stay referenced (nothing is left to the garbage collector) and their loops are not left:
    ``close()``, or the end of the ``with`` block, alone stops each; taking more raises CallCancelled."""
    cases = [(name, how) for name in ENDLESS for how in ("close", "with")]
    if face == "sync":
        for name, how in cases:
            items = pair.stream(name, f"{how}-{name}")
            each = iter(items)
            if how == "close":
                assert [next(each) for _ in range(3)] == [0, 1, 2]
                items.close()
            else:
                with items:
                    assert [next(each) for _ in range(3)] == [0, 1, 2]
            pair.closed_within_bound(time.monotonic(), f"{how}-{name}")
            with pytest.raises(CallCancelled, match=f"the stream of '{name}' was closed"):
                next(each)
        return

    async def main() -> None:
        for name, how in cases:
            items = pair.stream(name, f"{how}-{name}")
            each = aiter(items)
            if how == "close":
                assert [await anext(each) for _ in range(3)] == [0, 1, 2]
                items.close()
            else:
                async with items:
                    assert [await anext(each) for _ in range(3)] == [0, 1, 2]
            await asyncio.to_thread(pair.closed_within_bound, time.monotonic(), f"{how}-{name}")
            with pytest.raises(CallCancelled, match=f"the stream of '{name}' was closed"):
                await anext(each)

    run_async(main)


@pytest.mark.parametrize("face", FACES)
def test_a_per_item_timeout_raises_and_closes_the_generator(pair: Pair, face: str) -> None:
    """w1 yields an item every 0.9 s; the caller waits 0.5 s for each: the wait for the second raises
    CallTimeout. (A sync generator can only be closed between two items: its ``finally`` runs once it has
    yielded the next one, here 0.4 s after the timeout.)"""
    for name in ("slow", "aslow"):
        key = f"timeout-{name}"
        taken: list[int] = []
        message = rf"callback '{name}' on node 'w1' sent no item within 0.5 s"
        if face == "sync":
            with pytest.raises(CallTimeout, match=message):
                for item in pair.stream(name, key, 0.9, timeout=0.5):
                    taken.append(item)
            pair.closed_within_bound(time.monotonic(), key)
        else:

            async def main() -> None:
                with pytest.raises(CallTimeout, match=message):  # noqa: B023 (called at once)
                    async for item in pair.stream(name, key, 0.9, timeout=0.5):  # noqa: B023
                        taken.append(item)  # noqa: B023
                await asyncio.to_thread(pair.closed_within_bound, time.monotonic(), key)  # noqa: B023

            run_async(main)
        assert taken == [0], name


@pytest.mark.parametrize("face", FACES)
def test_the_callers_stop_closes_the_generator(pair: Pair, face: str) -> None:
    """A second node of this process, 'leaver', takes 3 items of two endless streams from w1 and stops with
    them open: their generators are closed within 1 s of the stop's start (not after its grace for running
    calls, which an open stream would use up), and each stream gives the items already here, then raises
    NodeStopped."""
    keys = [f"stop-{name}" for name in ENDLESS]
    if face == "sync":
        leaver = Global(process_name="leaver", **pair.joining())
        try:
            leaver.wait_process("w1", timeout=10)
            streams = [iter(pair.stream(name, key, via=leaver)) for name, key in zip(ENDLESS, keys, strict=True)]
            assert [[next(each) for _ in range(3)] for each in streams] == [[0, 1, 2]] * 2
            stopped = time.monotonic()
            stopping = threading.Thread(target=leaver.stop)
            stopping.start()
            pair.closed_within_bound(stopped, *keys)
            stopping.join(10)
            for each in streams:
                with pytest.raises(NodeStopped, match="'leaver'"):
                    list(each)
        finally:
            leaver.stop()
        return

    async def main() -> None:
        async with Global(process_name="leaver", **pair.joining()) as leaver:
            await leaver.wait_process("w1", timeout=10)
            streams = [aiter(pair.stream(name, key, via=leaver)) for name, key in zip(ENDLESS, keys, strict=True)]
            assert [[await anext(each) for _ in range(3)] for each in streams] == [[0, 1, 2]] * 2
            stopped = time.monotonic()
            stopping = asyncio.ensure_future(leaver.stop_async())
            await asyncio.to_thread(pair.closed_within_bound, stopped, *keys)
            await stopping
            for each in streams:
                with pytest.raises(NodeStopped, match="'leaver'"):
                    async for _ in each:
                        pass

    run_async(main)


@pytest.mark.parametrize("face", FACES)
def test_the_callers_stop_closes_generators_run_on_its_own_node(face: str) -> None:
    """Streams whose callbacks run on the caller's own node (no link between them): the stop closes their
    generators within 1 s of its start, each stream gives the items already here then raises NodeStopped,
    and no worker thread is left waiting to send (the leftovers check)."""
    closed: dict[str, float] = {}

    @callback(name="own_endless")
    def own_endless() -> Iterator[int]:
        try:
            yield from itertools.count()
        finally:
            closed["own_endless"] = time.monotonic()

    @callback(name="own_aendless")
    async def own_aendless() -> AsyncIterator[int]:
        try:
            for item in itertools.count():
                yield item
                await asyncio.sleep(0)
        finally:
            closed["own_aendless"] = time.monotonic()

    names = ("own_endless", "own_aendless")
    stopped = 0.0
    if face == "sync":
        with Global(process_name="solo", init_controller=True) as solo:
            streams = [iter(getattr(solo.call, name)() & STREAM) for name in names]
            assert [next(each) for each in streams] == [0, 0]
            stopped = time.monotonic()
            solo.stop()
            for each in streams:
                with pytest.raises(NodeStopped, match="'solo'"):
                    list(each)
    else:

        async def main() -> None:
            nonlocal stopped
            async with Global(process_name="solo", init_controller=True) as solo:
                streams = [aiter(getattr(solo.call, name)() & STREAM) for name in names]
                assert [await anext(each) for each in streams] == [0, 0]
                stopped = time.monotonic()
                await solo.stop_async()
                for each in streams:
                    with pytest.raises(NodeStopped, match="'solo'"):
                        async for _ in each:
                            pass

        run_async(main)
    late = {name: closed[name] - stopped if name in closed else "never" for name in names}
    assert all(isinstance(after, float) and after < CLOSED_WITHIN for after in late.values()), (
        f"seconds from the stop to each generator's close: {late}"
    )


# A caller process that takes 3 items of each of two streams from w1, says so, and waits to be killed.
DOOMED = {
    "sync": """
import time
from mesh import STREAM, Global
g = Global(process_name="doomed", **{joining!r})
g.wait_process("w1", timeout=10)
streams = [iter(g.call.endless("death-endless") & STREAM(receiver="w1")),
           iter(g.call.aendless("death-aendless") & STREAM(receiver="w1"))]
print("TOOK", [[next(items) for _ in range(3)] for items in streams], flush=True)
time.sleep(60)
""",
    "async": """
import asyncio
from mesh import STREAM, Global
async def main():
    async with Global(process_name="doomed", **{joining!r}) as g:
        await g.wait_process("w1", timeout=10)
        streams = [aiter(g.call.endless("death-endless") & STREAM(receiver="w1")),
                   aiter(g.call.aendless("death-aendless") & STREAM(receiver="w1"))]
        print("TOOK", [[await anext(items) for _ in range(3)] for items in streams], flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
""",
}


@pytest.mark.parametrize("face", FACES)
def test_the_callers_death_closes_the_generator(pair: Pair, spawn: Callable[..., Proc], face: str) -> None:
    doomed = spawn("-c", DOOMED[face].format(joining=pair.joining()), module="tests._support.run_code")
    assert doomed.wait_line("TOOK", timeout=20) == "TOOK [[0, 1, 2], [0, 1, 2]]"
    killed = time.monotonic()
    doomed.signal(signal.SIGKILL)
    pair.closed_within_bound(killed, "death-endless", "death-aendless")


# ---------------------------------------------------------------------- the callee fails


@pytest.mark.parametrize("face", FACES)
def test_an_exception_mid_stream_comes_after_the_items_before_it(pair: Pair, face: str) -> None:
    """w1's generator yields 0, 1, 2 and raises Refused: the caller takes the three items, then the loop raises
    Refused itself (not a RemoteError), with w1's traceback attached."""
    for name in ("numbers", "anumbers"):
        taken: list[int] = []
        if face == "sync":
            with pytest.raises(Refused, match="no 3") as caught:
                for item in pair.stream(name, 5, 3):
                    taken.append(item)
        else:

            async def main() -> None:
                async for item in pair.stream(name, 5, 3):  # noqa: B023 (called at once)
                    taken.append(item)  # noqa: B023

            with pytest.raises(Refused, match="no 3") as caught:
                run_async(main)
        assert taken == [0, 1, 2], name
        assert type(caught.value) is Refused
        assert "raise Refused" in "".join(getattr(caught.value, "__notes__", []))


@pytest.mark.parametrize("face", FACES)
def test_the_callees_death_raises_peer_unavailable_in_the_loop(pair: Pair, face: str) -> None:
    """Two streams from w1 (of a sync and an async generator); w1 is killed once 3 items of each are taken:
    each loop goes on with the items that had arrived, in order, then raises PeerUnavailable naming w1."""
    taken: list[list[int]] = [[], []]
    if face == "sync":
        iterators = [iter(pair.stream(name, f"callee-death-{name}")) for name in ENDLESS]
        for got, each in zip(taken, iterators, strict=True):
            got += [next(each) for _ in range(3)]
        pair.w1.signal(signal.SIGKILL)
        for got, each in zip(taken, iterators, strict=True):
            with pytest.raises(PeerUnavailable, match="'w1'"):
                got += each
    else:

        async def main() -> None:
            iterators = [aiter(pair.stream(name, f"callee-death-{name}")) for name in ENDLESS]
            for got, each in zip(taken, iterators, strict=True):
                got += [await anext(each) for _ in range(3)]
            pair.w1.signal(signal.SIGKILL)
            for got, each in zip(taken, iterators, strict=True):
                with pytest.raises(PeerUnavailable, match="'w1'"):
                    async for item in each:
                        got.append(item)

        run_async(main)
    for got in taken:
        assert got == list(range(len(got)))
        assert len(got) >= 3


# ---------------------------------------------------------------------- streamed arguments


def failing() -> Iterator[int]:
    yield 1
    yield 2
    raise Refused("no 3")


async def afailing() -> AsyncIterator[int]:
    for item in failing():
        yield item
        await asyncio.sleep(0)


@pytest.mark.parametrize("face", FACES)
def test_the_callers_iterable_raising_makes_the_callees_iterator_raise(pair: Pair, face: str) -> None:
    """The caller's iterable yields 1, 2 and raises Refused: w1's transform (sync and async), iterating it,
    yields 2 and 4, then its iterator raises Refused, which ends the transform's stream with it; a callback
    that returns one value (``total``, ``atotal``) fails with it."""
    for transform, total in (("doubled", "total"), ("adoubled", "atotal")):
        taken: list[int] = []
        if face == "sync":
            with pytest.raises(Refused, match="no 3"):
                for item in pair.stream(transform, stream(failing())):
                    taken.append(item)
            with pytest.raises(Refused, match="no 3"):
                getattr(pair.g.call, total)(stream(failing())) & FG(timeout=10, receiver="w1")
        else:

            async def main() -> None:
                with pytest.raises(Refused, match="no 3"):
                    async for item in pair.stream(transform, stream(afailing())):  # noqa: B023 (called at once)
                        taken.append(item)  # noqa: B023
                with pytest.raises(Refused, match="no 3"):
                    await getattr(pair.g.call, total)(stream(afailing())) & FG(timeout=10, receiver="w1")  # noqa: B023

            run_async(main)
        assert taken == [2, 4], transform


class Endless:
    """The caller's endless items for a streamed argument: ``flowing`` is set once 100 were taken, ``closed``
    once the generator's ``finally`` ran."""

    def __init__(self) -> None:
        self.flowing = threading.Event()
        self.closed = threading.Event()

    def items(self) -> Iterator[int]:
        try:
            for item in itertools.count():
                if item == 100:
                    self.flowing.set()
                yield item
        finally:
            self.closed.set()

    async def aitems(self) -> AsyncIterator[int]:
        try:
            for item in self.items():
                yield item
                await asyncio.sleep(0)
        finally:
            self.closed.set()

    def closed_within_bound(self, since: float) -> None:
        assert self.closed.wait(max(0.0, since + CLOSED_WITHIN - time.monotonic())), (
            f"the caller's generator was not closed within {CLOSED_WITHIN} s"
        )


@pytest.mark.parametrize("face", FACES)
def test_a_callee_that_returns_early_closes_the_callers_iterable(pair: Pair, face: str) -> None:
    """w1's ``take`` returns after 3 of the caller's endless items: the caller's generator is closed (its
    ``finally`` runs, in this process) within 1 s of the result."""
    endless = Endless()
    if face == "sync":
        assert pair.g.call.take(stream(endless.items()), 3) & FG(timeout=10, receiver="w1") == [0, 1, 2]
        endless.closed_within_bound(time.monotonic())
        return

    async def main() -> None:
        assert await pair.g.call.take(stream(endless.aitems()), 3) & FG(timeout=10, receiver="w1") == [0, 1, 2]
        # Waited for in a thread: the generator is pumped on this very loop.
        await asyncio.to_thread(endless.closed_within_bound, time.monotonic())

    run_async(main)


@pytest.mark.parametrize("face", FACES)
def test_the_callees_death_fails_the_call_and_closes_the_callers_iterable(pair: Pair, face: str) -> None:
    """w1's ``total`` sums the caller's endless items until w1 is killed: the call raises PeerUnavailable and
    the caller's generator is closed within 1 s of the kill."""
    endless = Endless()
    if face == "sync":
        result = pair.g.call.total(stream(endless.items())) & BG(receiver="w1")
        assert isinstance(result, AsyncResult)
        assert endless.flowing.wait(10)
        killed = time.monotonic()
        pair.w1.signal(signal.SIGKILL)
        endless.closed_within_bound(killed)
        with pytest.raises(PeerUnavailable, match="'w1'"):
            result.get(timeout=10)
        return

    async def main() -> None:
        call = asyncio.ensure_future(pair.g.call.total(stream(endless.aitems())) & FG(receiver="w1"))
        assert await asyncio.to_thread(endless.flowing.wait, 10)
        killed = time.monotonic()
        pair.w1.signal(signal.SIGKILL)
        await asyncio.to_thread(endless.closed_within_bound, killed)
        with pytest.raises(PeerUnavailable, match="'w1'"):
            await call

    run_async(main)
