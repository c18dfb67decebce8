"""A killed node leaves every view within 3 s, with the controller alive, away, or killed with it."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from mesh import BROADCAST, FG, BroadcastError, Global
from tests._support.proc import Proc, free_port
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(90)

LEAVES_WITHIN = 3.0


def _names(g: Global) -> set[str]:
    return {m["name"] for m in g.members()}


def whoami_everywhere() -> dict[str, Any]:
    """Run on a peer (through its ``apply`` callback): a BROADCAST made by that peer's own node."""
    node = sys.modules["__main__"].node
    return dict(node.call.whoami() & BROADCAST(return_result=True))


def _members_seen_by(g: Global, name: str) -> int:
    return int((getattr(g.call, f"{name}_vitals")() & FG)["members"])


def _kill(proc: Proc) -> float:
    proc.signal(signal.SIGKILL)
    proc.popen.wait(5)
    return time.monotonic()


def test_a_killed_controller_host_leaves_every_view_and_the_rest_keeps_working(
    peer: Callable[..., tuple[Proc, str]],
) -> None:
    port = free_port()
    ctl = ("--host", "127.0.0.1", "--port", str(port))
    host, _ = peer("--name", "host", "--controller", *ctl)
    b, _ = peer("--name", "b", "--own", *ctl)
    c, _ = peer("--name", "c", "--own", *ctl)
    with Global(process_name="watcher", host="127.0.0.1", port=port) as g:
        wait_until(lambda: _names(g) == {"host", "b", "c", "watcher"}, 10, "all joined")
        # The watcher links to every node; b and c never link to the host.
        assert g.call.whoami() & BROADCAST(return_result=True) == {"host": "host", "b": "b", "c": "c"}

        killed = _kill(host)
        wait_until(lambda: "host" not in _names(g), LEAVES_WITHIN, "the host left the watcher's view")
        for name in ("b", "c"):
            wait_until(lambda n=name: _members_seen_by(g, n) == 3, LEAVES_WITHIN, f"the host left {name}'s view")
        assert time.monotonic() - killed < LEAVES_WITHIN

        # No controller any more, one view everywhere: BROADCAST reaches the live nodes, from any of them.
        assert g.call.whoami() & BROADCAST(return_result=True) == {"b": "b", "c": "c"}
        assert g.call.c_apply(whoami_everywhere) & FG == {"b": "b", "c": "c"}
        assert g.call.add(2, 3) & FG == 5
    for proc in (b, c):
        assert proc.text().count("lost the controller at") == 1, proc.text()


def test_without_a_controller_a_killed_peer_leaves_linked_views_and_the_return_is_logged_once(
    spawn: Callable[..., Proc], peer: Callable[..., tuple[Proc, str]]
) -> None:
    port = free_port()
    ctl = ("--host", "127.0.0.1", "--port", str(port))
    first = spawn(*ctl, module="controller")
    first.wait_line("controller listening")
    b, _ = peer("--name", "b", "--own", *ctl)
    c, _ = peer("--name", "c", *ctl)
    with (
        Global(process_name="watcher", host="127.0.0.1", port=port) as g,
        Global(process_name="loner", host="127.0.0.1", port=port) as loner,
    ):
        everyone = {"b", "c", "watcher", "loner"}
        wait_until(lambda: _names(g) == everyone and _names(loner) == everyone, 10, "all joined")
        # The watcher links to b and c; the loner links to nobody, and b only to the watcher.
        assert g.call.whoami() & BROADCAST(return_result=True) == {"b": "b", "c": "c"}
        _kill(first)
        wait_until(lambda: "lost the controller at" in b.text(), 5, "b noticed the controller left")
        time.sleep(1.0)  # past the nodes' check of their view (c is still alive for it)

        # The controller is away; c dies. The watcher cannot redial it and drops it, and tells b,
        # which checks and drops it too.
        killed = _kill(c)
        wait_until(lambda: "c" not in _names(g), LEAVES_WITHIN, "c left the watcher's view")
        wait_until(lambda: _members_seen_by(g, "b") == 3, LEAVES_WITHIN, "c left b's view")
        assert time.monotonic() - killed < LEAVES_WITHIN
        assert g.call.whoami() & BROADCAST(return_result=True) == {"b": "b"}
        assert g.call.b_apply(whoami_everywhere) & FG == {"b": "b"}

        # Linked to no witness, the loner learns when it dials c, and drops it then.
        assert "c" in _names(loner)
        with pytest.raises(BroadcastError) as failed:
            loner.call.whoami() & BROADCAST(return_result=True)
        assert failed.value.results == {"b": "b"} and set(failed.value.errors) == {"c"}
        assert _names(loner) == {"b", "watcher", "loner"}
        assert loner.call.whoami() & BROADCAST(return_result=True) == {"b": "b"}

        second = spawn(*ctl, module="controller")
        second.wait_line("controller listening")
        wait_until(lambda: "rejoined the controller at" in b.text(), 10, "b rejoined")
        wait_until(lambda: _names(g) == {"b", "watcher", "loner"}, 5, "the watcher's view after the rejoin")
        time.sleep(0.5)
    text = b.text()
    assert text.count("lost the controller at") == 1, text
    assert text.count("rejoined the controller at") == 1, text
