"""Mistakes a new user makes are refused at once, with a message that says what to do."""

from __future__ import annotations

import functools
import gc
import importlib
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh import BG, BROADCAST, FG, NO_RETURN, Global, UnknownCallback, UsageError, callback
from mesh.node._registry import REGISTRY

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def solo() -> Iterator[Global]:
    with Global(process_name="solo", init_controller=True) as g:
        yield g


# ----------------------------------------------------------------------------- @callback


def test_a_method_in_a_class_body_is_refused_saying_to_decorate_the_class() -> None:
    with pytest.raises(UsageError, match=r"'Store.get', a method in a class body.*@callback above class Store"):

        class Store:
            @callback
            def get(self, key: str) -> str:
                return key

    with pytest.raises(UsageError, match="class body"):

        class Tools:
            @callback
            @staticmethod
            def version() -> str:
                return "1"

    assert REGISTRY.get("get") is None and REGISTRY.get("version") is None


def test_a_decorated_class_and_a_bound_method_are_still_offered() -> None:
    @callback
    class Group:
        def method1(self) -> int:
            return 1

        @staticmethod
        def method3() -> int:
            return 3

    assert REGISTRY.get("method3") is not None
    group = Group()
    assert REGISTRY.get("method1") is not None

    class Plain:
        def bound(self) -> str:
            return "bound"

    callback(Plain().bound)
    assert REGISTRY.get("bound") is not None
    del group


def test_a_lambda_or_a_partial_is_refused_saying_to_name_it() -> None:
    with pytest.raises(UsageError, match="lambda or partial has none: define the function with def"):
        callback(lambda: 1)
    with pytest.raises(UsageError, match="lambda or partial"):
        callback(functools.partial(print, "x"))


def test_two_functions_under_one_name_are_refused_the_same_one_again_is_not() -> None:
    def whoami() -> str:
        return "first"

    callback(whoami)
    callback(whoami)  # the same function again: nothing changes
    first = REGISTRY.get("whoami")
    assert first is not None and first.fn is whoami

    def other() -> str:
        return "second"

    other.__name__ = "whoami"
    with pytest.raises(UsageError, match=r"'whoami' is already offered by this process.*Rename one"):
        callback(other)
    assert REGISTRY.get("whoami") is first


def test_two_classes_offering_one_method_name_are_refused_all_or_none() -> None:
    @callback
    class First:
        def shared(self) -> str:
            return "first"

    @callback
    class Second:
        def only_second(self) -> str:
            return "second"

        def shared(self) -> str:
            return "second"

    First()
    with pytest.raises(UsageError, match="'shared' is already offered"):
        Second()
    assert REGISTRY.get("only_second") is None, "a refused class offered some of its methods"


def test_a_module_run_again_replaces_its_callbacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "reloaded_callbacks.py").write_text(
        textwrap.dedent("""
            from mesh import callback

            @callback
            def reloaded_one() -> int:
                return 1
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reloaded_callbacks")
    try:
        before = REGISTRY.get("reloaded_one")
        importlib.reload(module)
        after = REGISTRY.get("reloaded_one")
        assert before is not None and after is not None and after.fn is module.reloaded_one
        assert after.fn is not before.fn
    finally:
        sys.modules.pop("reloaded_callbacks", None)


# ----------------------------------------------------------------------------- g.call


def test_a_modifier_on_a_callback_not_called_says_to_add_the_parentheses(solo: Global) -> None:
    for modifier in (FG, BG, NO_RETURN, BROADCAST(return_result=True)):
        with pytest.raises(UsageError, match=r"not called yet; add the parentheses.*g\.call\.whoami\(\) & "):
            solo.call.whoami & modifier


def test_unknown_callback_suggests_close_names(solo: Global) -> None:
    @callback
    def whoami() -> str:
        return "solo"

    with pytest.raises(UnknownCallback, match=r"did you mean 'whoami'\?") as caught:
        solo.call.whoamy() & FG
    assert caught.value.suggestions == ["whoami"]
    with pytest.raises(UnknownCallback, match="did you mean 'whoami'"):
        solo.call.whoam() & BROADCAST(return_result=True)
    with pytest.raises(UnknownCallback, match="check the name") as far:
        solo.call.zzz() & FG
    assert far.value.suggestions == []


def test_a_call_never_given_a_modifier_warns_when_collected(solo: Global) -> None:
    with pytest.warns(RuntimeWarning, match=r"remote call whoami\(\.\.\.\) was never made: give it a modifier"):
        solo.call.whoami()
        gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pending = solo.call.nothing_here(1)
        with pytest.raises(UnknownCallback):
            pending & FG
        del pending
        gc.collect()


def test_a_forgotten_modifier_warns_in_a_plain_program(tmp_path: Path) -> None:
    """As python warns of an un-awaited coroutine, without pytest's warning filters in between."""
    script = tmp_path / "forgot.py"
    script.write_text(
        textwrap.dedent("""
            from mesh import Global, callback

            @callback
            def log(text: str) -> None:
                print(text)

            with Global(process_name="forgetful", init_controller=True) as g:
                g.call.log("never sent")
        """)
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning: remote call log(...) was never made" in done.stderr
    assert "never sent" not in done.stdout
