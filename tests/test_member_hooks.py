"""Knowing who is there: ``on_node_join`` / ``on_node_leave`` (and daffi 2.x's names), ``members()`` with each
member's callbacks, and callbacks that get the serving node's ``Global`` injected; peers are real processes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from mesh import FG, PERIOD, Global, UsageError, callback
from mesh.node._inject import global_parameter
from tests._support.main_node import main_node
from tests._support.proc import Proc
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_join_and_leave_hooks_sync(transport: str, peer: Callable[..., tuple[Proc, str]]) -> None:
    seen: list[tuple[str, str, bool]] = []
    lock = threading.Lock()

    def joined(name: str) -> None:
        # A sync hook runs in a worker thread, never on the node's loop.
        with lock:
            seen.append(("join", name, _on_a_loop()))

    async def connected(name: str) -> None:
        await asyncio.sleep(0)
        with lock:
            seen.append(("connect", name, _on_a_loop()))

    def left(name: str) -> None:
        with lock:
            seen.append(("leave", name, _on_a_loop()))

    async def disconnected(name: str) -> None:
        with lock:
            seen.append(("disconnect", name, _on_a_loop()))

    g, where = main_node(transport)
    try:
        assert g.on_node_join(joined) is joined
        g.on_node_connect(connected)
        g.on_node_leave(left)
        g.on_node_disconnect(disconnected)
        proc, _ = peer("--name", "w1", *where)
        wait_until(lambda: len(seen) == 2, 10, "both join hooks")
        assert sorted(seen) == [("connect", "w1", True), ("join", "w1", False)]
        members = {m["name"]: m for m in g.members()}
        assert set(members) == {"main", "w1"}
        assert {"whoami", "served_by", "bump"} <= set(members["w1"]["callbacks"])
        assert members["w1"]["callbacks"] == sorted(members["w1"]["callbacks"])
        proc.stop()
        wait_until(lambda: len(seen) == 4, 10, "both leave hooks")
        assert sorted(seen[2:]) == [("disconnect", "w1", True), ("leave", "w1", False)]
    finally:
        g.stop()
    assert len(seen) == 4  # this node's own stop calls no leave hook


def test_join_and_leave_hooks_async(peer: Callable[..., tuple[Proc, str]]) -> None:
    """An async program's hooks, added before its node has joined: they also hear of the members already there."""
    first, _ = peer("--name", "w1", "--controller")

    async def main() -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        g = Global(process_name="amain")

        @g.on_node_join
        async def joined(name: str) -> None:
            seen.append(("join", name))

        @g.on_node_leave
        def left(name: str) -> None:
            seen.append(("leave", name))

        async with g:
            await _until(lambda: ("join", "w1") in seen)
            second, _ = peer("--name", "w2")
            await _until(lambda: ("join", "w2") in seen)
            second.stop()
            await _until(lambda: ("leave", "w2") in seen)
        return seen

    assert asyncio.run(main()) == [("join", "w1"), ("join", "w2"), ("leave", "w2")]
    first.stop()


def test_a_failing_hook_is_logged(peer: Callable[..., tuple[Proc, str]], caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def broken(name: str) -> None:
        calls.append(name)
        raise RuntimeError("hook broke")

    with Global(process_name="main", init_controller=True) as g:
        g.on_node_join(broken)
        peer("--name", "w1")
        wait_until(lambda: "hook broke" in caplog.text, 10, "the hook's failure logged")
        assert calls == ["w1"]
        assert g.call.whoami() & FG(timeout=5) == "w1"


def test_a_hook_must_be_callable() -> None:
    with Global(process_name="main", init_controller=True) as g:
        with pytest.raises(UsageError, match="on_node_join takes a function of the member's name, not 3"):
            g.on_node_join(3)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="on_node_leave takes a function"):
            g.on_node_disconnect("w1")  # type: ignore[arg-type]


def test_a_callback_gets_the_serving_nodes_global(peer: Callable[..., tuple[Proc, str]]) -> None:
    ran: list[str] = []

    @callback
    def served_here(x: int, g: Global) -> str:
        return f"{g.process_name}:{x}"

    @callback
    async def served_here_async(g: Global, x: int = 0) -> str:
        return f"{g.process_name}:{x}"

    @callback
    def scheduled_here(g: Global) -> None:
        ran.append(g.process_name)

    with Global(process_name="main", init_controller=True) as g:
        peer("--name", "w1")
        g.wait_process("w1", timeout=10)
        assert g.call.served_by(1) & FG(timeout=5) == "w1:1"
        assert g.call.served_by(x=2).fg(timeout=5, receiver="w1") == "w1:2"
        assert g.call.served_here(3) & FG(timeout=5) == "main:3"
        assert g.call.served_here_async(x=4) & FG(timeout=5) == "main:4"
        handle = g.call.scheduled_here() & PERIOD(period=0.05, receiver="main")
        wait_until(lambda: len(ran) >= 2, 5, "two scheduled runs")
        handle.cancel()
        assert set(ran) == {"main"}

        async def from_async() -> Any:
            return await g.call.served_here(5) & FG(timeout=5)

        assert asyncio.run(from_async()) == "main:5"


def test_which_parameters_ask_for_the_global() -> None:
    def by_class(a: int, g: Any) -> None: ...

    by_class.__annotations__["g"] = Global  # the class itself, as without `from __future__ import annotations`

    def other_name(a: int, node: Global) -> None: ...

    def named_g(a: int, g: Global | None = None) -> None: ...

    def dotted(a: int, here: mesh.Global) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    def plain(a: int, g: int) -> None: ...

    def unannotated(a: int, g) -> None: ...  # type: ignore[no-untyped-def]

    assert global_parameter(by_class) == "g"
    assert global_parameter(other_name) == "node"
    assert global_parameter(named_g) == "g"
    assert global_parameter(dotted) == "here"
    assert global_parameter(plain) is None
    assert global_parameter(unannotated) is None


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.02)
