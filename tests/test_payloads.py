"""Payloads: dill values, large bytes both ways, and the size limit on the side that sends."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from mesh import BG, FG, NO_RETURN, BadArguments, Global, PayloadTooLarge
from mesh.wire._codec import NO_ARGS, decode_args, encode_args
from tests._support.proc import Proc, free_port
from tests._support.shapes import Point
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(90)

MIB = 1024 * 1024


@pytest.fixture
def pair(peer: Callable[..., tuple[Proc, str]]) -> Iterator[Global]:
    port = free_port()
    g = Global(process_name="main", init_controller=True, host="127.0.0.1", port=port)
    peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port), "--max-message-size", str(80 * MIB))
    g.wait_process("peer", timeout=10)
    yield g
    g.stop()


def test_a_call_without_arguments_is_pickled_once_and_runs_like_any_other(pair: Global) -> None:
    assert encode_args((), {}, MIB, "whoami") is NO_ARGS
    assert decode_args(NO_ARGS.data, None, False, "whoami") == ((), {})
    for args, kwargs in [((), {"a": 1}), ((None,), {}), (((),), {}), (({},), {})]:
        encoded = encode_args(args, kwargs, MIB, "echo")
        assert encoded is not NO_ARGS
        assert decode_args(encoded.data, encoded.buffers, encoded.dill, "echo") == (args, kwargs)
    g = pair
    assert g.call.whoami() & FG == "peer"
    before = g.call.count() & FG
    for _ in range(100):
        g.call.bump() & NO_RETURN
    wait_until(lambda: g.call.count() & FG == before + 100, 10, "100 NO_RETURN bumps run")
    with pytest.raises(BadArguments, match=r"'add'\(a, b\): missing a required argument: 'a'"):
        g.call.add() & FG


def test_lambdas_closures_and_generator_functions(pair: Global) -> None:
    g = pair
    offset = 10
    assert g.call.apply(lambda x: x * 3, 7) & FG == 21

    def closure(x: int) -> int:
        return x + offset

    assert g.call.apply(closure, 5) & FG == 15

    def countdown(n: int) -> Iterator[int]:
        while n:
            yield n
            n -= 1

    assert g.call.gather(countdown, 3) & FG == [3, 2, 1]


def test_dataclasses_and_exceptions_as_values(pair: Global) -> None:
    g = pair
    assert g.call.make_point(1, 2) & FG == Point(1, 2)
    assert g.call.echo(Point(3, 4)) & FG == Point(3, 4)
    returned = g.call.echo(ValueError("as a value")) & FG
    assert isinstance(returned, ValueError) and returned.args == ("as a value",)


def test_64_mib_argument_and_result(pair: Global) -> None:
    g = pair
    data = bytes(range(256)) * (64 * MIB // 256)
    assert g.call.echo(data) & FG == data
    result = g.call.big(64 * MIB) & FG
    assert len(result) == 64 * MIB and result[:3] == b"\x01\x01\x01"
    assert g.call.echo(bytearray(b"xy") * MIB) & FG == bytearray(b"xy") * MIB


def test_oversized_argument_fails_on_the_caller(peer: Callable[..., tuple[Proc, str]]) -> None:
    port = free_port()
    peer("--name", "peer", "--host", "127.0.0.1", "--port", str(port), "--controller")
    with Global(process_name="small", host="127.0.0.1", port=port, max_message_size=MIB) as g:
        assert g.call.echo(b"x" * (MIB // 2)) & FG == b"x" * (MIB // 2)
        with pytest.raises(PayloadTooLarge, match="echo") as caught:
            g.call.echo(b"x" * (2 * MIB)) & FG
        assert "max_message_size" in str(caught.value)


def test_oversized_result_fails_on_the_callee(pair: Global) -> None:
    with pytest.raises(PayloadTooLarge, match="result of callback 'big'"):
        pair.call.big(81 * MIB) & FG


def test_many_calls_with_out_of_band_buffers_in_one_frame(pair: Global) -> None:
    """Calls sent in one burst share frames; each must get its own buffers back, in order."""
    g = pair
    payloads = [bytes([i]) * (100_000 + i) for i in range(12)]
    echoes = [g.call.echo(p) & BG for p in payloads]
    smalls = [g.call.echo(i) & BG for i in range(5)]
    # Two out-of-band buffers in one call, and a small argument between them.
    swaps = [
        g.call.apply(lambda x, n, y: (y, n, x), p, i, q) & BG for i, (p, q) in enumerate(itertools.pairwise(payloads))
    ]
    assert [r.get(30) for r in echoes] == payloads
    assert [r.get(30) for r in smalls] == list(range(5))
    assert [r.get(30) for r in swaps] == [(q, i, p) for i, (p, q) in enumerate(itertools.pairwise(payloads))]
