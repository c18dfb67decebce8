"""When a callback is there: defined after the node started, offered by a class made later, on a linked peer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from mesh import BROADCAST, FG, Global, callback
from tests._support.proc import Proc, free_port

pytestmark = pytest.mark.timeout(60)

ROUNDS = 50
Peer = Callable[..., tuple[Proc, str]]


def _named(name: str, value: int) -> Callable[[], int]:
    def fn() -> int:
        return value

    fn.__name__ = name
    return fn


def test_a_callback_defined_after_start_is_never_unknown_to_its_own_process() -> None:
    with Global(process_name="definer", init_controller=True) as g:
        for i in range(ROUNDS):
            callback(_named(f"fresh_{i}", i))
            assert getattr(g.call, f"fresh_{i}")() & FG == i
            callback(_named(f"broad_{i}", i))
            assert getattr(g.call, f"broad_{i}")() & BROADCAST(return_result=True) == {"definer": i}
            callback(_named(f"waited_{i}", i))
            g.wait_function(f"waited_{i}", timeout=0.5)
            callback(_named(f"scheduled_{i}", i))
            getattr(g.call, f"scheduled_{i}")().period(period=60).cancel()


def test_a_class_made_after_start_offers_its_methods_at_once() -> None:
    with Global(process_name="maker", init_controller=True) as g:
        for i in range(ROUNDS):
            # A new class each round: a @callback class is a singleton.
            made: type[Any] = type(f"Made{i}", (), {f"value_{i}": lambda self, i=i: i})
            callback(made)()
            assert getattr(g.call, f"value_{i}")() & FG == i


def test_a_callback_defined_after_start_is_never_unknown_in_async_code() -> None:
    async def scenario() -> None:
        async with Global(process_name="async-definer", init_controller=True) as g:
            for i in range(ROUNDS):
                callback(_named(f"late_{i}", i))
                assert await getattr(g.call, f"late_{i}")() & FG == i
                assert await (getattr(g.call, f"late_{i}")() & BROADCAST(return_result=True)) == {"async-definer": i}

    asyncio.run(scenario())


def test_with_peers_only_a_call_right_after_the_constructor_reaches_the_peer(peer: Peer) -> None:
    _, address = peer("--name", "target", "--listen", f"127.0.0.1:{free_port()}", "--controller")
    for round_ in range(5):
        with Global(process_name=f"dialler-{round_}", peers=[address], listen="127.0.0.1:0") as g:
            assert g.call.add(round_, 1) & FG == round_ + 1
            assert g.call.whoami() & BROADCAST(return_result=True) == {"target": "target"}


def test_with_peers_only_an_async_call_right_after_the_constructor_reaches_the_peer(
    peer: Peer,
) -> None:
    _, address = peer("--name", "target", "--listen", f"127.0.0.1:{free_port()}", "--controller")

    async def scenario() -> Any:
        async with Global(process_name="async-dialler", peers=[address], listen="127.0.0.1:0") as g:
            return await g.call.add(2, 3) & FG

    assert asyncio.run(scenario()) == 5


@pytest.mark.timeout(30)
def test_with_an_unreachable_peer_the_constructor_returns_and_keeps_trying(peer: Peer) -> None:
    port = free_port()
    with Global(process_name="early", peers=[f"127.0.0.1:{port}"], listen="127.0.0.1:0") as g:
        peer("--name", "late", "--listen", f"127.0.0.1:{port}", "--controller")
        g.wait_process("late", timeout=15)
        assert g.call.add(1, 1) & FG == 2
