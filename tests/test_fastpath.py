"""The per-call fast path: calls handed from other threads to the node's loop, replies decoded in the
caller's thread, and sync callbacks marked ``inline`` that run on the callee's loop without a thread hop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mesh import BG, BROADCAST, FG, NO_RETURN, BroadcastError, Global, callback
from mesh.node._config import NodeConfig
from mesh.node._node import Node
from mesh.node._registry import CallbackRegistry
from mesh.testing import CALLER, local_mesh
from tests._support.proc import Proc, free_port
from tests._support.shapes import Refused
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def pair(peer: Callable[..., tuple[Proc, str]]) -> Iterator[Global]:
    port = free_port()
    g = Global(process_name="main", init_controller=True, host="127.0.0.1", port=port)
    try:
        peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port))
        g.wait_function("inline_thread", timeout=10)
        yield g
    finally:
        g.stop()


def test_inline_callback_runs_on_the_callees_loop_thread(pair: Global) -> None:
    assert pair.call.inline_thread() & FG == "mesh-peer"
    assert (pair.call.worker_thread() & FG).startswith("mesh-peer_")
    assert (pair.call.inline_thread() & BG).get(5) == "mesh-peer"


def test_inline_callback_errors_travel_like_any_other(pair: Global) -> None:
    with pytest.raises(Refused, match="not inline"):
        pair.call.inline_refuse("not inline") & FG
    pair.call.inline_refuse("dropped") & NO_RETURN
    assert pair.call.add(1, 2) & FG == 3


def test_many_calls_in_flight_from_several_threads_get_their_own_results(pair: Global) -> None:
    failures: list[str] = []

    def caller(offset: int) -> None:
        futures = [pair.call.add(offset, i) & BG for i in range(1000)]
        got = [f.get(30) for f in futures]
        if got != [offset + i for i in range(1000)]:
            failures.append(f"thread {offset}: wrong results")
        if [pair.call.echo(offset + i) & FG for i in range(50)] != [offset + i for i in range(50)]:
            failures.append(f"thread {offset}: wrong FG results")

    threads = [threading.Thread(target=caller, args=(k * 10_000,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures


def test_broadcast_from_sync_code_gathers_results_and_errors(
    pair: Global, peer: Callable[..., tuple[Proc, str]]
) -> None:
    port = pair.controller_address.rpartition(":")[2]
    peer("--name", "peer2", "--host", "127.0.0.1", "--port", port)
    pair.wait_process("peer2", timeout=10)
    assert pair.call.whoami() & BROADCAST(return_result=True) == {"peer": "peer", "peer2": "peer2"}

    def refuse_on_peer2() -> str:
        import sys

        me = sys.argv[sys.argv.index("--name") + 1]
        if me == "peer2":
            raise ValueError(f"refused on {me}")
        return me

    with pytest.raises(BroadcastError) as caught:
        pair.call.apply(refuse_on_peer2) & BROADCAST(timeout=10, return_result=True)
    assert caught.value.results == {"peer": "peer"}
    assert isinstance(caught.value.errors["peer2"], ValueError)


def test_callback_decorator_with_options_returns_the_function() -> None:
    def plain(x: int) -> int:
        return x + 1

    assert callback(inline=True)(plain) is plain
    assert plain(1) == 2


def test_a_failed_no_return_call_is_logged_by_the_callee() -> None:
    with local_mesh(nodes=["peer"], callbacks="tests._support.peer") as m:
        m.g.call.refuse("lost in a worker") & NO_RETURN
        m.g.call.inline_refuse("lost inline") & NO_RETURN
        peer = m.node("peer")
        wait_until(
            lambda: all(text in peer.output() for text in ("lost in a worker", "lost inline")), 10, "both logged"
        )
        logged = [line for line in peer.output().splitlines() if f"NO_RETURN call from {CALLER} failed" in line]
        assert len(logged) == 2, peer.output()


def test_a_stopping_node_runs_the_no_return_calls_it_has_queued_within_its_grace(tmp_path: Path) -> None:
    ran: list[int] = []
    first = threading.Event()

    def slow(i: int) -> None:
        time.sleep(0.05)
        ran.append(i)
        first.set()

    async def main() -> None:
        registry = CallbackRegistry()
        registry.register("slow", slow)
        callee = Node(NodeConfig(name="callee", listen=f"unix:{tmp_path}/callee.sock", max_workers=2), registry)
        await callee.start()
        caller = Node(NodeConfig(name="caller", listen=f"unix:{tmp_path}/caller.sock", peers=(callee.address,)))
        await caller.start()
        try:
            await asyncio.wait_for(caller.wait_function("slow"), 10)
            for i in range(20):
                member, encoded = caller.prepare("slow", (i,), {})
                caller.send_no_return(member, "slow", (i,), {}, encoded)
            assert await asyncio.to_thread(first.wait, 10)
            # 20 calls on 2 threads take 0.5 s: stop() must wait for those still queued.
            await callee.stop(grace=5)
        finally:
            await caller.stop(grace=0)
            await callee.stop(grace=0)

    asyncio.run(main())
    assert sorted(ran) == list(range(20))
