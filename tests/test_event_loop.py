"""Which event loop a sync program's node runs on: uvloop when installed, as ``$MESH_UVLOOP`` says."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
import uvloop

from mesh import BG, BROADCAST, FG, NO_RETURN, Global, UsageError
from mesh.node._event_loop import ENV, kind_of, loop_name, new_event_loop, selected_kind
from tests._support.loops import loop_of
from tests._support.proc import Proc, free_port
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("setting", "kind"),
    [
        (None, "uvloop"),
        ("", "uvloop"),
        ("auto", "uvloop"),
        ("1", "uvloop"),
        (" On ", "uvloop"),
        ("0", "asyncio"),
        ("off", "asyncio"),
        ("FALSE", "asyncio"),
    ],
)
def test_the_setting_selects_the_kind_of_loop(monkeypatch: pytest.MonkeyPatch, setting: str | None, kind: str) -> None:
    if setting is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, setting)
    assert selected_kind() == kind
    loop = new_event_loop()
    try:
        assert kind_of(loop) == kind
        assert loop_name(loop) == (f"uvloop {uvloop.__version__}" if kind == "uvloop" else "asyncio")
    finally:
        loop.close()


def test_an_unknown_setting_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "fast")
    with pytest.raises(UsageError, match=r"MESH_UVLOOP='fast' is not one of auto, 1, true, yes, on \(uvloop\)"):
        selected_kind()
    with pytest.raises(UsageError, match="MESH_UVLOOP='fast'"):
        Global(process_name="refused", init_controller=True)


def test_without_uvloop_auto_falls_back_and_asking_for_it_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import itself fail, as it does where uvloop is not installed.
    monkeypatch.setitem(sys.modules, "uvloop", None)
    monkeypatch.setenv(ENV, "auto")
    assert selected_kind() == "asyncio"
    monkeypatch.setenv(ENV, "yes")
    with pytest.raises(
        UsageError, match=r"asks for uvloop, which is not installed here: pip install 'grpcmesh\[uvloop\]'"
    ):
        selected_kind()


def test_nodes_on_both_kinds_of_loop_call_each_other(
    spawn: Callable[..., Proc], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    port = free_port()
    kinds = {"on_asyncio": ("0", "asyncio"), "on_uvloop": ("1", f"uvloop {uvloop.__version__}")}
    with Global(process_name="main", init_controller=True, host="127.0.0.1", port=port) as g:
        assert kind_of(loop_of(g)) == "uvloop"
        for name, (setting, _) in kinds.items():
            args = ("--name", name, "--host", "127.0.0.1", "--port", str(port), "--own")
            spawn(*args, extra_env={ENV: setting}).wait_line("READY")
            g.wait_process(name, timeout=10)
        for name, (_, kind) in kinds.items():
            call = g.call
            assert getattr(call, f"{name}_event_loop")() & FG == kind
            futures = [getattr(call, f"{name}_add")(i, 1) & BG for i in range(200)]
            assert [f.get(timeout=10) for f in futures] == [i + 1 for i in range(200)]
            for _ in range(50):
                getattr(call, f"{name}_bump")() & NO_RETURN
            count = getattr(call, f"{name}_count")
            wait_until(lambda count=count: count() & FG == 50, 10, f"50 NO_RETURN calls run on {name}")
        assert g.call.event_loop() & BROADCAST(return_result=True, timeout=10) == {
            name: kind for name, (_, kind) in kinds.items()
        }


def test_a_parked_loop_serves_only_a_node_that_asks_for_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "0")
    with Global(process_name="first", init_controller=True) as first:
        on_asyncio = loop_of(first)
    assert kind_of(on_asyncio) == "asyncio"
    monkeypatch.setenv(ENV, "1")
    with Global(process_name="second", init_controller=True) as second:
        assert loop_of(second) is not on_asyncio
        assert kind_of(loop_of(second)) == "uvloop"
    monkeypatch.setenv(ENV, "0")
    with Global(process_name="third", init_controller=True) as third:
        assert loop_of(third) is on_asyncio
