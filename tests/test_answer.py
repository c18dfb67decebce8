"""Answering from another node: ``FG(answer=current_caller())``. Node 'main' (this process, with the
controller) calls a dispatcher process 'S', whose callbacks hand the work to a worker process 'W'; W's
value reaches 'main' straight from W, while S's own answer is held back for a long time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from mesh import FG, Caller, Global, UsageError, current_caller
from tests._support.main_node import main_node
from tests._support.proc import Proc

pytestmark = pytest.mark.timeout(90)

HOLD = 5.0
"""Seconds S waits before its own answer: a call answered sooner was answered by W."""

DISPATCHER = """
import asyncio, time
from mesh import FG, Global, UsageError, current_caller

g = Global("S", init_controller=False, host="127.0.0.1", port=PORT)
HOLD = HOLD_SECONDS
kept = []

async def delegate(x):
    value = await (g.call.double(x) & FG(receiver="W", answer=current_caller()))
    await asyncio.sleep(HOLD)
    return value

def delegate_sync(x):
    value = g.call.double(x) & FG(receiver="W", answer=current_caller())
    time.sleep(HOLD)
    return value

async def delegate_failing(x):
    try:
        return await (g.call.fail(x) & FG(receiver="W", answer=current_caller()))
    except ValueError as exc:
        return f"S handled {exc}"

async def caller_in_a_task():
    return current_caller()

async def who_calls():
    caller = current_caller()
    inner = await asyncio.get_running_loop().create_task(caller_in_a_task())
    mine = await (g.call.whose_caller() & FG(receiver="S"))
    return caller, inner, mine

async def whose_caller():
    return current_caller()

async def keep_caller():
    kept.append(current_caller())
    return "kept"

async def answer_with_kept(x):
    value = await (g.call.double(x) & FG(receiver="W", answer=kept[0]))
    return ("from S", value)

async def hand_on_a_string():
    try:
        FG(answer="main")
    except UsageError as exc:
        return str(exc)

for fn in (delegate, delegate_sync, delegate_failing, who_calls, whose_caller, keep_caller, answer_with_kept,
           hand_on_a_string):
    g.register(fn)
g.wait_function("fail", timeout=10)  # W started first
print("READY", flush=True)
g.join()
"""

WORKER = """
from mesh import Global

g = Global("W", init_controller=False, host="127.0.0.1", port=PORT)

def double(x):
    return 2 * x

def fail(x):
    raise ValueError(f"no {x}")

g.register(double)
g.register(fail)
print("READY", flush=True)
g.join()
"""


@pytest.fixture
def mesh_of_three(spawn: Callable[..., Proc]) -> Iterator[Global]:
    g, where = main_node("tcp")
    port = where[-1]
    try:
        code = DISPATCHER.replace("PORT", port).replace("HOLD_SECONDS", repr(HOLD))
        for script, last in ((WORKER.replace("PORT", port), "fail"), (code, "hand_on_a_string")):
            spawn("-c", script, module="tests._support.run_code").wait_line("READY")
            g.wait_function(last, timeout=10)
        yield g
    finally:
        g.stop()


def test_the_worker_answers_the_caller_directly_once_they_are_linked(mesh_of_three: Global) -> None:
    g = mesh_of_three
    assert g.call.double(1) & FG(receiver="W") == 2  # W now has a link to main
    for name in ("delegate", "delegate_sync"):
        for x in range(3):
            began = time.monotonic()
            assert getattr(g.call, name)(x) & FG(timeout=HOLD / 2) == 2 * x
            assert time.monotonic() - began < HOLD / 2


def test_without_a_link_the_dispatcher_answers_and_the_worker_links_for_next_time(mesh_of_three: Global) -> None:
    g = mesh_of_three
    began = time.monotonic()
    assert g.call.delegate(4) & FG(timeout=HOLD * 2) == 8
    assert time.monotonic() - began >= HOLD  # the first time, S's answer
    assert g.call.delegate(5) & FG(timeout=HOLD / 2) == 10


def test_an_error_goes_only_to_the_dispatcher(mesh_of_three: Global) -> None:
    g = mesh_of_three
    assert g.call.double(1) & FG(receiver="W") == 2
    assert g.call.delegate_failing(3) & FG(timeout=10) == "S handled no 3"


def test_current_caller_is_the_calling_node_only_in_the_serving_task(mesh_of_three: Global) -> None:
    g = mesh_of_three
    ids = {member["name"]: member["node_id"] for member in g.members()}
    caller, inner, mine = g.call.who_calls() & FG(timeout=10)
    assert isinstance(caller, Caller)
    assert (caller.node_id, caller.node_name, caller.served_by) == (ids["main"], "main", ids["S"])
    assert inner is None  # a task the callback started
    assert mine is None  # a call S made to itself
    assert current_caller() is None  # outside any callback


def test_a_caller_whose_call_has_ended_answers_nothing(mesh_of_three: Global) -> None:
    g = mesh_of_three
    assert g.call.double(1) & FG(receiver="W") == 2
    assert g.call.keep_caller() & FG(timeout=10) == "kept"
    for x in range(5):
        assert g.call.answer_with_kept(x) & FG(timeout=10) == ("from S", 2 * x)


def test_only_a_caller_of_a_call_served_here_can_be_handed_on(mesh_of_three: Global) -> None:
    g = mesh_of_three
    assert "takes the Caller that current_caller() returns, not str" in g.call.hand_on_a_string() & FG(timeout=10)
    main_id = next(member["node_id"] for member in g.members() if member["name"] == "main")
    elsewhere = Caller(main_id, "main", 1, served_by="some-other-node")
    with pytest.raises(UsageError, match="a Caller of a call this node"):
        g.call.double(1) & FG(receiver="W", answer=elsewhere)


def test_an_async_caller_takes_the_direct_answer(mesh_of_three: Global) -> None:
    g = mesh_of_three
    assert g.call.double(1) & FG(receiver="W") == 2

    async def call() -> int:
        value: int = await g.call.delegate(7) & FG(timeout=HOLD / 2)
        return value

    assert asyncio.run(call()) == 14
