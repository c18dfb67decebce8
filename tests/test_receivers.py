"""Calling a named node: ``receiver=`` on FG, BG, NO_RETURN and PERIOD, ``BROADCAST(receivers=...)``, and the
choice among providers without one (the fewest calls in flight), against peer processes over TCP and UNIX sockets."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator

import pytest

from mesh import (
    BG,
    BROADCAST,
    FG,
    NO_RETURN,
    PERIOD,
    AsyncResult,
    BroadcastError,
    Global,
    PeerUnavailable,
    UnknownCallback,
    UsageError,
)
from mesh.membership._membership import CONTROLLER
from tests._support.main_node import main_node
from tests._support.proc import Proc, free_port
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["tcp", "unix"])
def trio(request: pytest.FixtureRequest, peer: Callable[..., tuple[Proc, str]]) -> Iterator[Global]:
    """This process runs the controller and node 'main' (which offers none of the peers' callbacks); peer
    processes run nodes 'w1' and 'w2'."""
    g, where = main_node(request.param)
    try:
        for name in ("w1", "w2"):
            peer("--name", name, *where)
            g.wait_process(name, timeout=10)
        yield g
    finally:
        g.stop()


def test_each_modifier_reaches_the_named_receiver(trio: Global) -> None:
    g = trio
    for name in ("w1", "w2") * 3:
        assert g.call.whoami() & FG(receiver=name) == name
        assert g.call.whoami().fg(timeout=5, receiver=name) == name
        result = g.call.whoami() & BG(timeout=5, receiver=name)
        assert isinstance(result, AsyncResult)
        assert result.get(timeout=5) == name
        assert g.call.whoami().bg(receiver=name).get(timeout=5) == name  # type: ignore[union-attr]
    for _ in range(4):
        g.call.bump() & NO_RETURN(receiver="w2")
    g.call.bump().no_return(receiver="w2")
    wait_until(lambda: g.call.count() & FG(receiver="w2") == 5, 5, "5 bumps on w2")
    assert g.call.count() & FG(receiver="w1") == 0
    handle = g.call.tick() & PERIOD(period=0.05, receiver="w1")
    wait_until(lambda: g.call.ticks() & FG(receiver="w1") >= 3, 5, "3 ticks on w1")
    handle.cancel()
    assert g.call.ticks() & FG(receiver="w2") == 0


def test_bg_without_result_is_fire_and_forget(trio: Global) -> None:
    """daffi 2.x's ``BG(return_result=False)``: returns None and the call runs, as NO_RETURN."""
    g = trio
    assert g.call.bump() & BG(return_result=False, receiver="w1") is None
    assert g.call.bump().bg(return_result=False, receiver="w1") is None
    wait_until(lambda: g.call.count() & FG(receiver="w1") == 2, 5, "2 bumps on w1")


def test_broadcast_to_some_receivers(trio: Global) -> None:
    g = trio
    assert g.call.whoami() & BROADCAST(return_result=True, receivers=["w2"]) == {"w2": "w2"}
    both = g.call.whoami().broadcast(return_result=True, receivers=("w1", "w2"))
    assert both == {"w1": "w1", "w2": "w2"}
    g.call.bump() & BROADCAST(receivers=["w1"])
    wait_until(lambda: g.call.count() & FG(receiver="w1") == 1, 5, "1 bump on w1")
    assert g.call.count() & FG(receiver="w2") == 0


def test_an_unknown_receiver_fails_at_once_naming_node_and_callback(trio: Global) -> None:
    g = trio
    calls: list[Callable[[], object]] = [
        lambda: g.call.whoami() & FG(receiver="nobody"),
        lambda: g.call.whoami() & BG(receiver="nobody"),
        lambda: g.call.whoami() & NO_RETURN(receiver="nobody"),
        lambda: g.call.whoami() & PERIOD(period=1, receiver="nobody"),
        lambda: g.call.whoami() & BROADCAST(receivers=["w1", "nobody"]),
        lambda: g.call.whoami() & BROADCAST(return_result=True, receivers=["nobody"]),
    ]
    for call in calls:
        with pytest.raises(UnknownCallback, match=r"no node named 'nobody' is in the mesh to run callback 'whoami'"):
            call()
    # 'main' is in the mesh, but offers no 'whoami'.
    with pytest.raises(UnknownCallback, match=r"node 'main' does not offer a callback named 'whoami'") as caught:
        g.call.whoami() & FG(receiver="main")
    assert caught.value.receiver == "main"
    with pytest.raises(UnknownCallback, match=r"node 'w1' does not offer a callback named 'whoamii'.*'whoami'"):
        g.call.whoamii() & BG(receiver="w1")
    assert g.call.count() & FG(receiver="w1") == 0  # the BROADCAST with one unknown receiver sent nothing


def test_an_unreachable_receiver_is_never_replaced(trio: Global, caplog: pytest.LogCaptureFixture) -> None:
    """A named receiver in the view that cannot be dialled fails with PeerUnavailable, although 'w1' and 'w2'
    offer the callback too; without a receiver the call goes to one that answers."""
    g = trio
    _add_ghost(g)
    with pytest.raises(PeerUnavailable, match="ghost"):
        g.call.whoami() & FG(timeout=10, receiver="ghost")
    assert g.call.whoami() & FG(timeout=10) in {"w1", "w2"}
    # A failed dial drops the ghost from the view: put it back for each of the next calls.
    _add_ghost(g)
    with pytest.raises(BroadcastError) as caught:
        g.call.whoami() & BROADCAST(return_result=True, receivers=["ghost", "w1"])
    assert caught.value.results == {"w1": "w1"}
    assert isinstance(caught.value.errors["ghost"], PeerUnavailable)
    _add_ghost(g)
    g.call.bump() & NO_RETURN(receiver="ghost")
    wait_until(lambda: "call of 'bump' whose result nobody waits for failed" in caplog.text, 10, "the failure logged")
    assert g.call.count() & FG(receiver="w1") == g.call.count() & FG(receiver="w2") == 0


def _add_ghost(g: Global) -> None:
    """Put a member named 'ghost' offering 'whoami' and 'bump' in g's view, at an address that refuses connections."""
    node = g._session.node
    assert node is not None
    ghost = f"127.0.0.1:{free_port()}"
    upsert = node.membership.upsert
    node.loop.call_soon_threadsafe(upsert, secrets.token_hex(16), "ghost", ghost, ["whoami", "bump"], CONTROLLER)
    wait_until(lambda: node.membership.by_name("ghost") is not None, 5, "ghost in the view")


def test_without_receiver_the_least_busy_provider_is_called(trio: Global) -> None:
    g = trio
    seen = {g.call.whoami() & FG for _ in range(40)}
    assert seen == {"w1", "w2"}  # ties at random: both are chosen (1 in 2**39 that one is not)
    busy = [g.call.sleep(3) & BG(timeout=10, receiver="w1") for _ in range(3)]
    # A call counts once the loop has sent it (BG hands it over from this thread).
    wait_until(lambda: g.statistics()["in_flight"] == 3, 5, "3 calls in flight to w1")
    assert [g.call.whoami() & FG for _ in range(10)] == ["w2"] * 10
    for result in busy:
        assert isinstance(result, AsyncResult)
        assert result.get(timeout=10) == 3


def test_random_choice_is_an_option(trio: Global) -> None:
    """``Global(choice="random")`` picks among the providers at random, busy or not."""
    address = trio.controller_address
    host, port = (None, None) if address.startswith("unix:") else address.rsplit(":", 1)
    with Global(process_name="rnd", host=host, port=int(port) if port else None, choice="random") as g:
        g.wait_process("w2", timeout=10)
        busy = [g.call.sleep(2) & BG(timeout=10, receiver="w1") for _ in range(3)]
        wait_until(lambda: g.statistics()["in_flight"] == 3, 5, "3 calls in flight to w1")
        assert {g.call.whoami() & FG for _ in range(30)} == {"w1", "w2"}  # least busy would give w2 only
        for result in busy:
            assert isinstance(result, AsyncResult)
            result.get(timeout=10)
    with pytest.raises(UsageError, match="choice must be one of 'least_busy', 'random', not 'fastest'"):
        Global(process_name="bad", choice="fastest")


def test_receiver_from_async_code(trio: Global) -> None:
    g = trio

    async def main() -> None:
        assert await g.call.whoami() & FG(receiver="w2") == "w2"
        assert await g.call.whoami().fg(receiver="w1") == "w1"
        result = g.call.whoami() & BG(receiver="w2")
        assert isinstance(result, AsyncResult)
        assert await result.get_async(timeout=5) == "w2"
        assert await g.call.whoami() & BROADCAST(return_result=True, receivers=["w1"]) == {"w1": "w1"}
        with pytest.raises(UnknownCallback, match="'nobody'"):
            await g.call.whoami() & FG(receiver="nobody")
        g.call.bump() & NO_RETURN(receiver="w1")
        assert g.call.bump() & BG(return_result=False, receiver="w1") is None
        handle = g.call.tick() & PERIOD(period=0.05, receiver="w2")
        await handle
        while await g.call.count() & FG(receiver="w1") < 2 or await g.call.ticks() & FG(receiver="w2") < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        handle.cancel()
        assert await g.call.count() & FG(receiver="w2") == 0
        assert await g.call.ticks() & FG(receiver="w1") == 0

    asyncio.run(asyncio.wait_for(main(), 20))


def test_async_node_calls_a_receiver(trio: Global) -> None:
    """A Global made in async code, its FG on its own loop, sends to the named receiver."""
    address = trio.controller_address

    async def main() -> None:
        host, port = (None, None) if address.startswith("unix:") else address.rsplit(":", 1)
        async with Global(process_name="amain", host=host, port=int(port) if port else None) as g:
            await g.wait_process("w1", timeout=10)
            for name in ("w1", "w2", "w1"):
                assert await g.call.whoami() & FG(receiver=name) == name
            with pytest.raises(UnknownCallback, match="node 'amain' does not offer"):
                await g.call.whoami() & FG(receiver="amain")

    asyncio.run(main())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FG(receiver=3), r"FG receiver must be the name of a node \(a non-empty str\), not 3"),
        (lambda: BG(receiver=""), r"BG receiver must be the name of a node"),
        (lambda: NO_RETURN(receiver=["w1"]), r"NO_RETURN receiver must be the name of a node"),
        (lambda: PERIOD(period=1, receiver=b"w1"), r"PERIOD receiver must be the name of a node"),
        (lambda: BROADCAST(receivers="w1"), r"BROADCAST receivers takes a list of node names, not one str"),
        (lambda: BROADCAST(receivers=[]), r"BROADCAST receivers names no node"),
        (lambda: BROADCAST(receivers=["w1", None]), r"BROADCAST receivers must be the names of nodes .*, not None"),
        (lambda: BROADCAST(receivers=5), r"BROADCAST receivers must be a list of node names, not 5"),
        (lambda: BG(return_result="no"), r"BG return_result must be True or False, not 'no'"),
    ],
)
def test_bad_receivers_are_usage_errors(make: Callable[[], object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make()


def test_receivers_keep_their_order_without_repeats() -> None:
    assert BROADCAST(receivers=["w2", "w1", "w2"]).receivers == ("w2", "w1")
    assert FG(receiver="w1") == FG(None, "w1")
