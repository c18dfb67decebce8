"""Callback names: ``@callback(name=...)``, dotted calls, and callbacks registered on one node."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mesh import BROADCAST, FG, Global, UnknownCallback, UsageError, callback
from mesh.membership._membership import CONTROLLER, LINK, Membership
from mesh.node._registry import REGISTRY
from tests._support.proc import Proc, free_port
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)

Spawn = Callable[..., Proc]


class Counter:
    """An instance registered under a prefix."""

    def __init__(self, start: int) -> None:
        self.value = start

    def bump(self, by: int) -> int:
        self.value += by
        return self.value

    def read(self) -> int:
        return self.value

    def _hidden(self) -> None: ...


@callback
def everywhere() -> str:
    return "every node of the process"


def _fails_unknown(call: Callable[[], Any], name: str) -> bool:
    try:
        call()
    except UnknownCallback as exc:
        assert repr(name) in str(exc)
        return True
    return False


def _succeeds(call: Callable[[], Any]) -> bool:
    try:
        call()
    except UnknownCallback:
        return False
    return True


@pytest.fixture
def controller_port() -> Iterator[tuple[Global, int]]:
    port = free_port()
    with Global(process_name="caller", init_controller=True, host="127.0.0.1", port=port, discovery=False) as g:
        yield g, port


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "cannot be empty"),
        ("kv set", "'kv set' is not a Python name"),
        ("kv..set", "'' is not"),
        ("kv.", "'' is not"),
        ("1kv", "'1kv' is not"),
        ("kv-set", "'kv-set' is not"),
    ],
)
def test_a_bad_name_is_refused_naming_the_problem(name: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        callback(name=name)(lambda: None)
    with pytest.raises(UsageError, match="a callback name is a string, not int"):
        callback(name=3)  # type: ignore[call-overload]
    assert name not in REGISTRY.names()


def test_a_name_taken_by_another_callback_is_refused() -> None:
    @callback(name="names.taken")
    def first() -> int:
        return 1

    def second() -> int:
        return 2

    with pytest.raises(UsageError, match=r"'names.taken' is already offered"):
        callback(name="names.taken")(second)
    with Global(process_name="taker", init_controller=True, discovery=False) as g:
        with pytest.raises(UsageError, match=r"'names.taken' is already offered"):
            g.register(second, name="names.taken")
        assert g.register(second, name="names.mine") == ["names.mine"]
        with pytest.raises(UsageError, match=r"'names.mine' is already offered"):
            g.register(first, name="names.mine")
        with pytest.raises(UsageError, match="'kv set' is not a Python name"):
            g.register(Counter(0), prefix="kv set")
        with pytest.raises(UsageError, match="an instance of Counter, not the class"):
            g.register(Counter)
        with pytest.raises(UsageError, match="Counter is an instance"):
            g.register(Counter(0), name="counter")
        with pytest.raises(UsageError, match=r"registered no such callback.*offered by every node"):
            g.unregister("names.taken")
    REGISTRY.unregister("names.taken")


def test_dotted_calls_reach_dotted_names_in_another_process(controller_port: tuple[Global, int], spawn: Spawn) -> None:
    g, port = controller_port
    spawn("--port", str(port), module="tests._support.registrant").wait_line("READY")
    g.wait_function("tools.echo", timeout=10)
    assert g.call.tools.echo(5) & FG == 5
    assert g.call.tools() & FG == "tools itself"
    assert g.call.maths.double(4) & FG == 8
    assert g.call.tools.echo is g.call.tools.echo
    with pytest.raises(UnknownCallback, match=r"'tools.nope'"):
        g.call.tools.nope() & FG


def test_a_registered_callback_comes_and_goes_within_a_second(
    controller_port: tuple[Global, int], spawn: Spawn
) -> None:
    g, port = controller_port
    spawn("--port", str(port), module="tests._support.registrant").wait_line("READY")
    g.wait_function("offer", timeout=10)
    for round_ in range(3):
        assert g.call.offer("kv") & FG == ["kv.get", "kv.put"]
        wait_until(lambda: _succeeds(lambda: g.call.kv.put("k", 7) & FG), 1.0, "kv.put callable")
        g.call.kv.put("k", round_) & FG
        assert g.call.kv.get("k") & FG == round_
        assert g.call.withdraw("kv") & FG == ["kv.get", "kv.put"]
        wait_until(lambda: _fails_unknown(lambda: g.call.kv.get("k") & FG, "kv.get"), 1.0, "kv.get unknown")


def test_registration_from_async_code_in_another_process(controller_port: tuple[Global, int], spawn: Spawn) -> None:
    _, port = controller_port
    spawn("--port", str(port), "--async", module="tests._support.registrant").wait_line("READY")

    async def scenario() -> None:
        async with Global(process_name="async-caller", host="127.0.0.1", port=port, discovery=False) as g:
            await g.wait_function("offer", timeout=10)
            assert await g.call.tools.echo("x") & FG == "x"
            assert await g.call.offer("store") & FG == ["store.get", "store.put"]
            await g.call.store.put("a", 1) & FG
            assert await g.call.store.get("a") & FG == 1
            await g.call.withdraw("store") & FG
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.0
            while True:
                try:
                    await g.call.store.get("a") & FG
                except UnknownCallback as exc:
                    assert "'store.get'" in str(exc)
                    break
                assert loop.time() < deadline, "store.get still offered 1 s after unregister"
                await asyncio.sleep(0.02)

    asyncio.run(scenario())


def test_two_globals_in_one_process_offer_different_callbacks(controller_port: tuple[Global, int]) -> None:
    first, port = controller_port
    with Global(process_name="second", host="127.0.0.1", port=port, discovery=False) as second:
        counter = Counter(10)
        assert second.register(counter, prefix="counter") == ["counter.bump", "counter.read"]
        assert second.register(Counter(0).read, name="zero") == ["zero"]

        def offered() -> dict[str, list[str]]:
            return {m["name"]: m["callbacks"] for m in first.members()}

        wait_until(lambda: "zero" in offered().get("second", []), 1.0, "second's callbacks in the view")
        view = offered()
        assert "counter.bump" not in view["caller"] and "everywhere" in view["caller"]
        assert "everywhere" in view["second"]
        assert first.call.counter.bump(5) & FG == 15
        assert first.call.counter.read() & BROADCAST(return_result=True) == {"second": 15}
        assert first.call.everywhere() & BROADCAST(return_result=True) == {
            "caller": "every node of the process",
            "second": "every node of the process",
        }
        assert first._hosting.callbacks.get("counter.read") is None
        assert second.unregister(counter) == ["counter.bump", "counter.read"]
        wait_until(lambda: _fails_unknown(lambda: first.call.counter.read() & FG, "counter.read"), 1.0, "withdrawn")
        assert first.call.zero() & FG == 0


def test_two_globals_in_one_process_from_async_code() -> None:
    async def scenario() -> None:
        async def hello() -> str:
            return "from two"

        port = free_port()
        one = Global(process_name="one", init_controller=True, host="127.0.0.1", port=port, discovery=False)
        two = Global(process_name="two", host="127.0.0.1", port=port, discovery=False)
        # Registered before two's node has started: it is offered from its start.
        two.register(hello, name="only.two")
        async with one, two:
            await one.wait_function("only.two", timeout=1.0)
            assert await one.call.only.two() & FG == "from two"
            assert "only.two" not in one._hosting.callbacks.names()
            two.unregister("only")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.0
            while "only.two" in {c for m in one.members() for c in m["callbacks"]}:
                assert loop.time() < deadline, "only.two still in the view 1 s after unregister"
                await asyncio.sleep(0.02)
            with pytest.raises(UnknownCallback, match=r"'only.two'"):
                await one.call.only.two() & FG

    asyncio.run(scenario())


def test_registration_travels_over_unix_sockets() -> None:
    with Global(process_name="host", init_controller=True, discovery=False) as host:
        assert host.address.startswith("unix:")
        with Global(process_name="guest", discovery=False) as guest:
            for _ in range(3):
                host.register(Counter(3), prefix="unix")
                wait_until(lambda: _succeeds(lambda: guest.call.unix.read() & FG), 1.0, "unix.read callable")
                assert guest.call.unix.bump(1) & FG == 4
                host.unregister("unix")
                wait_until(lambda: _fails_unknown(lambda: guest.call.unix.read() & FG, "unix.read"), 1.0, "withdrawn")


def test_a_late_relay_by_the_controller_does_not_undo_what_the_link_said() -> None:
    """The flip seen in the two-process test: kv.put offered over the link, then the controller's
    relay of the earlier withdrawal arrived and took it away again for a moment."""
    view = Membership(on_removed=lambda member: None)
    view.upsert("peer", "peer", "unix:/p", ["kv.put"], LINK)
    view.upsert("peer", "peer", "unix:/p", [], CONTROLLER)
    assert [m.name for m in view.providers("kv.put")] == ["peer"]
    view.drop("peer", LINK)
    view.replace_source(CONTROLLER, [("peer", "peer", "unix:/p", [])])
    assert view.providers("kv.put") == ()
