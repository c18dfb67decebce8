"""Errors: remote exceptions, unknown callbacks, bad arguments, unpicklable values, dead peers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from mesh import (
    BG,
    FG,
    BadArguments,
    Global,
    MeshError,
    PeerUnavailable,
    RemoteError,
    SerializationError,
    UnknownCallback,
)
from mesh.testing import MeshNode, local_mesh
from tests._support.shapes import Refused

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pair() -> Iterator[tuple[Global, MeshNode]]:
    """This process's node, and a child process, node 'peer', offering tests/_support/peer.py's callbacks."""
    with local_mesh(nodes=["peer"], callbacks="tests._support.peer") as m:
        yield m.g, m.node("peer")


def test_remote_exception_is_reraised_as_its_own_type(pair: tuple[Global, MeshNode]) -> None:
    g, _ = pair
    with pytest.raises(Refused, match="no thanks") as caught:
        g.call.refuse("no thanks") & FG
    assert "tests/_support/peer.py" in caught.value.remote_traceback  # type: ignore[attr-defined]
    with pytest.raises(ZeroDivisionError):
        g.call.apply(lambda: 1 / 0) & FG


def test_exception_that_cannot_travel_arrives_as_remote_error(pair: tuple[Global, MeshNode]) -> None:
    g, _ = pair
    with pytest.raises(RemoteError) as caught:
        g.call.raise_local() & FG
    assert caught.value.type_name.endswith("LocalOnly")
    assert caught.value.remote_message == "only here"
    assert "raise_local" in caught.value.remote_traceback


def test_unknown_callback_fails_at_once_naming_it(pair: tuple[Global, MeshNode]) -> None:
    g, _ = pair
    for make in (lambda: g.call.no_such_thing() & FG, lambda: g.call.no_such_thing() & BG):
        started = time.monotonic()
        with pytest.raises(UnknownCallback, match="'no_such_thing'"):
            make()
        assert time.monotonic() - started < 1


def test_wrong_arguments_name_the_signature(pair: tuple[Global, MeshNode]) -> None:
    g, _ = pair
    with pytest.raises(BadArguments, match=r"'add'\(a, b\): missing a required argument: 'b'") as caught:
        g.call.add(1) & FG
    assert isinstance(caught.value, TypeError)
    with pytest.raises(BadArguments, match="unexpected keyword"):
        g.call.add(1, 2, c=3) & FG


def test_unpicklable_argument_fails_on_the_caller(pair: tuple[Global, MeshNode]) -> None:
    g, _ = pair
    with pytest.raises(SerializationError) as caught:
        g.call.echo(1, (x for x in range(3))) & FG
    message = str(caught.value)
    assert "'echo'" in message and "generator" in message


def test_unpicklable_result_fails_with_a_clear_error(pair: tuple[Global, MeshNode]) -> None:
    g, _ = pair
    with pytest.raises(SerializationError, match="result of callback 'unpicklable_result'"):
        g.call.unpicklable_result() & FG


def test_callee_killed_mid_call_fails_pending_calls_naming_the_peer(pair: tuple[Global, MeshNode]) -> None:
    g, peer = pair
    pending = [g.call.sleep(30) & BG for _ in range(5)]
    blocking_error: list[BaseException] = []

    def blocked() -> None:
        try:
            g.call.sleep(30) & FG
        except BaseException as exc:
            blocking_error.append(exc)

    waiter = threading.Thread(target=blocked)
    waiter.start()
    time.sleep(0.3)
    killed = time.monotonic()
    peer.kill()
    for future in pending:
        with pytest.raises(PeerUnavailable, match="'peer'"):
            future.get(timeout=3)
    waiter.join(3)
    assert time.monotonic() - killed < 3
    assert isinstance(blocking_error[0], PeerUnavailable)
    assert blocking_error[0].peer == "peer"  # type: ignore[attr-defined]


def test_errors_form_one_hierarchy() -> None:
    import mesh.errors as errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), MeshError)
