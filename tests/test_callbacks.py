"""@callback on sync and async functions and on classes; several nodes offering one name."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from mesh import BG, BROADCAST, FG, Global, UnknownCallback, UsageError, callback
from mesh.testing import local_mesh
from tests._support.proc import Proc, free_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def main_node() -> Iterator[Global]:
    g = Global(process_name="main", init_controller=True, host="127.0.0.1", port=free_port())
    yield g
    g.stop()


def _port(g: Global) -> str:
    return g.controller_address.rsplit(":", 1)[1]


def test_callback_returns_the_function_unchanged() -> None:
    def plain(x: int) -> int:
        return x

    assert callback(plain) is plain
    assert plain(3) == 3


def test_class_static_and_class_methods_at_once_instance_methods_later(
    main_node: Global, peer: Callable[..., tuple[Proc, str]]
) -> None:
    g = main_node
    peer("--name", "no-instance", "--host", "127.0.0.1", "--port", _port(g))
    g.wait_process("no-instance", timeout=10)
    assert g.call.twice(21) & FG == 42
    assert g.call.kind() & FG == "Calc"
    with pytest.raises(UnknownCallback, match="plus_base"):
        g.call.plus_base(1) & FG
    with pytest.raises(UnknownCallback, match="_hidden"):
        g.call._hidden() & FG
    peer("--name", "with-instance", "--host", "127.0.0.1", "--port", _port(g), "--calc-base", "100")
    g.wait_function("plus_base", timeout=10)
    assert g.call.plus_base(1) & FG == 101


def test_decorated_class_is_a_singleton() -> None:
    @callback
    class Single:
        def hello(self) -> str:
            return "hi"

    Single()
    with pytest.raises(UsageError, match="singleton"):
        Single()


def test_local_class_instance_methods_register_on_creation(main_node: Global) -> None:
    @callback
    class Local:
        def __init__(self, factor: int) -> None:
            self.factor = factor

        def scale(self, x: int) -> int:
            return self.factor * x

    with pytest.raises(UnknownCallback):
        main_node.call.scale(2) & FG
    Local(5)
    main_node.wait_function("scale", timeout=5)
    assert main_node.call.scale(2) & FG == 10


def test_sync_callback_does_not_block_the_nodes_loop() -> None:
    with local_mesh(nodes=1, callbacks="tests._support.peer") as m:
        g = m.g
        slow = g.call.sleep(2) & BG
        time.sleep(0.1)
        assert g.call.add(1, 1) & FG(timeout=5) == 2
        assert g.call.async_add(1, 1) & FG(timeout=5) == 2
        assert not slow.done(), "a fast call had to wait for a slow sync callback"
        assert slow.get(5) == 2


def test_two_nodes_offering_one_name() -> None:
    with local_mesh(nodes=["p1", "p2"], callbacks="tests._support.peer") as m:
        pids = {name: m.node(name).pid for name in ("p1", "p2")}
        answered = {m.g.call.pid() & FG for _ in range(60)}
        assert answered == set(pids.values())
        assert m.g.call.pid() & BROADCAST(return_result=True) == pids


def test_callback_added_after_start_is_announced(main_node: Global, peer: Callable[..., tuple[Proc, str]]) -> None:
    g = main_node
    peer("--name", "peer", "--host", "127.0.0.1", "--port", _port(g))
    g.wait_process("peer", timeout=10)

    @callback
    def late_offer(x: int) -> int:
        return -x

    def peer_sees_it() -> bool:
        return bool(g.call.apply(_offers, "late_offer") & FG)

    deadline = time.monotonic() + 5
    while not peer_sees_it():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _offers(name: str) -> bool:
    import sys

    node = sys.modules["__main__"].node
    assert node is not None
    return any(name in m["callbacks"] for m in node.members())
