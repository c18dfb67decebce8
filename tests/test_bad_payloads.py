"""Payloads that cannot travel: each ends in a clear error on the side that can name it, the link
survives, and nothing hangs. (Unpicklable arguments and results, exceptions that cannot be pickled
and payloads over the sender's own limit are in test_errors.py and test_payloads.py.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mesh import BG, FG, Global, PayloadTooLarge, RemoteError, SerializationError
from tests._support.proc import Proc, free_port

pytestmark = pytest.mark.timeout(60)

MIB = 1024 * 1024


def _refuse_to_load(text: str) -> Any:
    raise RuntimeError(f"{text} cannot be rebuilt here")


class Unloadable(Exception):
    """Pickles anywhere; unpickling it fails."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_refuse_to_load, (str(self),))


class UnloadableValue:
    def __reduce__(self) -> tuple[Any, ...]:
        return (_refuse_to_load, ("the value",))


def _raise_unloadable() -> None:
    raise Unloadable("raised on the callee")


def _make_unloadable_value() -> UnloadableValue:
    return UnloadableValue()


def _mesh(peer: Callable[..., tuple[Proc, str]], own_limit: int, peer_limit: int) -> Global:
    port = free_port()
    peer(
        "--name",
        "peer",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--controller",
        "--max-message-size",
        str(peer_limit),
    )
    return Global(process_name="main", host="127.0.0.1", port=port, max_message_size=own_limit)


def test_exception_that_cannot_be_unpickled_on_the_caller_arrives_as_remote_error(
    peer: Callable[..., tuple[Proc, str]],
) -> None:
    with _mesh(peer, 128 * MIB, 128 * MIB) as g:
        with pytest.raises(RemoteError) as caught:
            g.call.apply(_raise_unloadable) & FG
        assert caught.value.type_name.endswith("Unloadable")
        assert caught.value.remote_message == "raised on the callee"
        assert "_raise_unloadable" in caught.value.remote_traceback
        assert g.call.add(1, 2) & FG == 3


def test_values_that_cannot_be_unpickled_fail_on_the_side_that_decodes_them(
    peer: Callable[..., tuple[Proc, str]],
) -> None:
    with _mesh(peer, 128 * MIB, 128 * MIB) as g:
        with pytest.raises(SerializationError, match=r"node 'peer': cannot decode arguments of callback 'echo'"):
            g.call.echo(UnloadableValue()) & FG
        with pytest.raises(SerializationError, match=r"cannot decode result of callback 'apply' from 'peer'") as caught:
            g.call.apply(_make_unloadable_value) & FG
        assert "cannot be rebuilt here" in str(caught.value)
        assert g.call.add(1, 2) & FG == 3


def test_result_over_the_callers_limit_fails_on_the_callee_and_the_link_survives(
    peer: Callable[..., tuple[Proc, str]],
) -> None:
    """The callee accepts 128 MiB, the caller 1 MiB: the callee refuses to send more than the caller takes."""
    with _mesh(peer, MIB, 128 * MIB) as g:
        running = g.call.sleep(0.5) & BG
        with pytest.raises(PayloadTooLarge, match=r"result of callback 'big' to node 'main'.*limit of 1048576") as big:
            g.call.big(3 * MIB) & FG
        assert str(big.value).startswith("node 'peer': ")
        with pytest.raises(PayloadTooLarge, match="result of callback 'apply'"):
            g.call.apply(_many_numbers, 1_000_000) & FG
        assert running.get(timeout=5) == 0.5
        assert g.call.add(1, 2) & FG == 3


def _many_numbers(n: int) -> list[int]:
    return list(range(n))


def test_exception_over_the_callers_limit_fails_on_the_callee_and_the_link_survives(
    peer: Callable[..., tuple[Proc, str]],
) -> None:
    """An exception that carries more than the caller takes comes back as the PayloadTooLarge that says so."""
    with _mesh(peer, MIB, 128 * MIB) as g:
        running = g.call.sleep(0.5) & BG
        with pytest.raises(PayloadTooLarge, match=r"exception of callback 'apply' to node 'main'.*limit of 1048576"):
            g.call.apply(_raise_big, 3 * MIB) & FG
        assert running.get(timeout=5) == 0.5
        assert g.call.add(1, 2) & FG == 3


def _raise_big(n: int) -> None:
    raise ValueError("x" * n)


def test_argument_over_the_callees_limit_fails_on_the_caller_and_the_link_survives(
    peer: Callable[..., tuple[Proc, str]],
) -> None:
    with _mesh(peer, 128 * MIB, MIB) as g:
        running = g.call.sleep(0.5) & BG
        with pytest.raises(PayloadTooLarge, match=r"arguments of callback 'echo' to node 'peer'.*limit of 1048576"):
            g.call.echo(b"x" * (3 * MIB)) & FG
        assert running.get(timeout=5) == 0.5
        assert g.call.echo(b"y" * (MIB // 2)) & FG == b"y" * (MIB // 2)
