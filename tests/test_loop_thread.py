"""The loop thread of a sync node: it ends with nothing left running, its loop is parked open for the
next node (gRPC may still hand it a completion), and nothing submitted after its end can hang."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import grpc
import pytest

from mesh import BG, BROADCAST, FG, NO_RETURN, PERIOD, Global, NodeStopped, callback
from mesh.node import _loop_thread
from mesh.node._loop_thread import LoopThread, parked_loops
from tests._support.loops import loop_of

pytestmark = pytest.mark.timeout(60)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_stopped_nodes_loop_takes_a_late_handover_and_serves_the_next_node(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = Global(process_name="first", init_controller=True)
    loop = loop_of(first)
    first.stop()
    # What gRPC does with a completion of the stopped node that another loop read: hand it over.
    handed = threading.Event()
    loop.call_soon_threadsafe(handed.set)
    with Global(process_name="second", init_controller=True) as second:
        assert loop_of(second) is loop
        # The handover queued while the loop was parked runs once a node runs on it again.
        assert handed.wait(5)
    assert _errors(caplog) == []


def test_sequential_nodes_keep_no_more_loops_than_ran_at_once() -> None:
    with Global(process_name="first", init_controller=True):
        pass
    parked = parked_loops()
    loops = set()
    for i in range(8):
        with Global(process_name=f"n{i}", init_controller=True) as g:
            loops.add(loop_of(g))
    assert len(loops) == 1
    assert parked_loops() == parked


def test_a_loop_thread_ends_its_leftover_tasks_and_refuses_later_work() -> None:
    thread = LoopThread("mesh-test")
    ended = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    thread.submit(forever())
    thread.stop()
    assert not thread.is_alive()
    assert ended.is_set()
    assert asyncio.all_tasks(thread.loop) == set()
    never = asyncio.sleep(0)
    with pytest.raises(NodeStopped, match="mesh-test"):
        thread.submit(never)


def test_every_modifier_and_wait_fails_fast_on_a_stopped_global() -> None:
    @callback
    def loop_thread_probe() -> int:
        return 1

    g = Global(process_name="gone", init_controller=True)
    assert g.call.loop_thread_probe() & FG == 1
    g.stop()
    for modifier in (FG, BG, BG(eta=0.1), NO_RETURN, NO_RETURN(eta=0.1), PERIOD(period=1), BROADCAST):
        started = time.monotonic()
        with pytest.raises(NodeStopped):
            g.call.loop_thread_probe() & modifier
        assert time.monotonic() - started < 2, modifier
    with pytest.raises(NodeStopped):
        g.call.loop_thread_probe() & BROADCAST(return_result=True)
    with pytest.raises(NodeStopped):
        g.wait_function("loop_thread_probe", timeout=1)


def test_a_grpc_call_cancelled_as_its_loop_ends_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """The shape of the failure: a client call cancelled as its loop thread ends completes afterwards,
    read by the server's loop, which hands the completion over to the ended loop."""

    async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await asyncio.sleep(0.3)
        return request

    async def serve() -> tuple[grpc.aio.Server, int]:
        handler = grpc.unary_unary_rpc_method_handler(slow)
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.S", {"Slow": handler}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server_thread = LoopThread("mesh-server")
    try:
        server, port = server_thread.submit(serve()).result(10)
        for _ in range(5):
            client = LoopThread("mesh-client")

            async def call_slowly() -> None:
                channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
                await channel.unary_unary("/t.S/Slow")(b"x")

            pending = client.submit(call_slowly())
            time.sleep(0.05)
            client.stop()
            assert pending.cancelled()
            time.sleep(0.3)
        server_thread.submit(server.stop(None)).result(10)
    finally:
        server_thread.stop()
    assert _errors(caplog) == []


def test_a_task_that_outlives_its_cancellation_is_reported(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_loop_thread, "LEFTOVER_WAIT", 0.2)
    thread = LoopThread("mesh-test")
    ended = threading.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.5)
        ended.set()

    thread.submit(stubborn())
    time.sleep(0.05)
    thread.stop()
    assert [r.getMessage() for r in caplog.records if "did not end within 0.2 s" in r.getMessage()]
    # It goes on when the next node runs on the parked loop.
    following = LoopThread("mesh-test-next")
    try:
        assert following.loop is thread.loop
        assert ended.wait(5)
    finally:
        following.stop()
