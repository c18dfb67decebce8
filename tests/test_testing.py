"""mesh.testing: meshes of child processes and of this process, their cleanup, and the pytest fixture."""

from __future__ import annotations

import asyncio
import os
import re
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import BROADCAST, FG, CallTimeout, PeerUnavailable, UsageError, callback
from mesh.testing import CALLER, LocalMesh, local_mesh
from tests._support.proc import ROOT, Proc
from tests._support.workers import wait_until

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(90)
# The inner pytest runs of the fixture's tests are as strict as the project's own.
STRICT = ("-p", "no:cacheprovider", "-W", "error", "--strict-markers")


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie no one reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def assert_cleaned_up(m: LocalMesh) -> None:
    for node in m.nodes:
        if node.process is not None:
            assert node.returncode is not None, f"{node} was not reaped"
            assert not running(node.pid), f"{node} still runs"
    assert not m.directory.exists(), f"{m.directory} was left behind"


def test_child_process_nodes_serve_their_module_and_are_stopped_on_exit() -> None:
    with local_mesh(nodes=3, callbacks="tests._support.peer") as m:
        assert m.names == ["node-0", "node-1", "node-2"]
        assert {member["name"] for member in m.g.members()} == {CALLER, *m.names}
        assert m.g.call.add(1, 2) & FG == 3
        pids = m.g.call.pid() & BROADCAST(return_result=True)
        assert pids == {node.name: node.pid for node in m.nodes}
        assert os.getpid() not in pids.values()
        assert sorted(path.name for path in m.directory.glob("*.sock")) == [
            "caller.sock",
            "n0.sock",
            "n1.sock",
            "n2.sock",
        ]
    assert_cleaned_up(m)
    assert [node.returncode for node in m.nodes] == [0, 0, 0], "a node did not stop cleanly"


def test_a_killed_node_leaves_the_mesh_and_the_others_go_on() -> None:
    with local_mesh(nodes=["a", "b"], callbacks="tests._support.peer", stop_grace=2) as m:
        victim = m.node("a")
        victim.kill()
        assert not victim.alive
        assert victim.returncode == -9
        assert not running(victim.pid)
        wait_until(lambda: "a" not in {member["name"] for member in m.g.members()}, 20, "the controller drops a")
        assert [m.g.call.pid() & FG for _ in range(5)] == [m.node("b").pid] * 5
        m.node("b").stop()
        assert not m.node("b").alive
        assert m.node("b").returncode == 0
    assert_cleaned_up(m)


def test_nodes_in_this_process_offer_its_callbacks() -> None:
    @callback
    def where() -> str:
        return threading.current_thread().name

    with local_mesh(nodes=2, in_process=True) as m:
        assert all(node.in_process and node.pid == os.getpid() and node.g is not None for node in m.nodes)
        assert set(m.g.call.where() & BROADCAST(return_result=True)) == {CALLER, "node-0", "node-1"}
        assert (m.g.call.where() & BROADCAST(return_result=True))["node-1"].startswith("mesh-node-1")
        with pytest.raises(UsageError, match="runs in this process"):
            m.node("node-0").kill()
        m.node("node-0").stop()
        assert not m.node("node-0").alive and m.node("node-1").alive
    assert_cleaned_up(m)
    # conftest's no_leftovers fails the test if a node thread is left running.


def test_the_async_form_runs_on_the_running_loop() -> None:
    @callback
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    async def scenario() -> tuple[LocalMesh, LocalMesh]:
        async with local_mesh(nodes=2, in_process=True) as here:
            ids = await here.g.call.loop_id() & BROADCAST(return_result=True)
            assert set(ids.values()) == {id(asyncio.get_running_loop())}
        async with local_mesh(nodes=2, callbacks="tests._support.peer") as children:
            assert await children.g.call.add(2, 3) & FG == 5
            await children.node("node-0").stop_async()
            assert children.node("node-0").returncode == 0
        return here, children

    for m in asyncio.run(scenario()):
        assert_cleaned_up(m)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stubborn_handlers.py").write_text("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with local_mesh(nodes=2, callbacks=["tests._support.peer", "stubborn_handlers"], stop_grace=0.5) as m:
        assert m.g.call.add(1, 1) & FG == 2
    assert [node.returncode for node in m.nodes] == [-9, -9]
    assert_cleaned_up(m)


def test_a_node_that_fails_to_start_is_reported_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_handlers.py").write_text("raise RuntimeError('no database here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    m = local_mesh(nodes=2, callbacks="broken_handlers")
    with pytest.raises(PeerUnavailable, match=r"exited with code 1 before it joined(?s:.*)no database here"):
        m.__enter__()
    assert_cleaned_up(m)


def test_nodes_that_do_not_join_in_time_fail_with_call_timeout() -> None:
    m = local_mesh(nodes=1, callbacks="tests._support.peer", start_timeout=0)
    with pytest.raises(CallTimeout, match=r"nodes \['node-0'\] did not join the mesh within 0 s"):
        m.__enter__()
    assert_cleaned_up(m)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nodes": -1}, "0 or more"),
        ({"nodes": "abc"}, "a number of nodes or a list of names"),
        ({"nodes": ["a", "a"]}, "distinct"),
        ({"nodes": [CALLER]}, "distinct and not 'caller'"),
        ({"callbacks": "no_such_module_here"}, "callbacks module 'no_such_module_here' cannot be found"),
        ({"callbacks": "no_such_package.handlers"}, "cannot be found"),
    ],
)
def test_bad_arguments_are_refused_at_once(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        local_mesh(**options)  # type: ignore[arg-type]


def test_a_mesh_starts_once_and_with_async_with_in_async_code() -> None:
    with local_mesh(nodes=0) as m:
        with pytest.raises(UsageError, match="starts once"):
            m.__enter__()
        assert m.g.members()[0]["name"] == CALLER
    assert_cleaned_up(m)

    async def scenario() -> None:
        with pytest.raises(UsageError, match="starts with `async with`"), local_mesh(nodes=1):
            pass

    asyncio.run(scenario())


def test_children_stop_when_the_test_process_dies(spawn: Callable[..., Proc]) -> None:
    code = textwrap.dedent(
        """
        import time
        from mesh.testing import local_mesh
        m = local_mesh(nodes=2, callbacks="tests._support.peer").__enter__()
        print("PIDS", *(node.pid for node in m.nodes), flush=True)
        time.sleep(600)
        """
    )
    parent = spawn("-c", code, module="tests._support.run_code")
    pids = [int(pid) for pid in parent.wait_line("PIDS").split()[1:]]
    assert all(running(pid) for pid in pids)
    parent.signal(9)
    wait_until(lambda: not any(running(pid) for pid in pids), 20, "the orphaned nodes stop")


def test_the_public_names_of_mesh_testing_are_documented() -> None:
    import mesh.testing

    reference = (ROOT / "docs" / "testing.md").read_text()
    for name in mesh.testing.__all__:
        value = getattr(mesh.testing, name)
        assert not callable(value) or value.__doc__, f"{name} has no docstring"
        assert f"`{name}" in reference, f"{name} is missing from docs/testing.md"


def test_the_start_mesh_fixture_comes_with_the_installed_package(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        handlers="""
        import os
        from mesh import callback

        @callback
        def double(x):
            return 2 * x

        @callback
        def pid():
            return os.getpid()
        """,
        test_user="""
        import os
        from mesh import FG, BROADCAST

        def test_children(start_mesh):
            m = start_mesh(nodes=2, callbacks="handlers")
            assert m.g.call.double(21) & FG == 42
            assert set((m.g.call.pid() & BROADCAST(return_result=True)).values()) == {n.pid for n in m.nodes}
            print("MESH", m.directory, *(n.pid for n in m.nodes))

        def test_in_process(start_mesh):
            m = start_mesh(nodes=1, in_process=True, callbacks="handlers")
            assert m.g.call.pid() & BROADCAST(return_result=True) == {"caller": os.getpid(), "node-0": os.getpid()}
        """,
    )
    result = pytester.runpytest_subprocess(*STRICT, "-s", timeout=80)
    result.assert_outcomes(passed=2)
    (line,) = [line for line in result.outlines if "MESH " in line]
    directory, *pids = line.partition("MESH ")[2].split()
    assert not Path(directory).exists()
    assert not any(running(int(pid)) for pid in pids)


def test_the_example_of_docs_testing_md_passes(pytester: pytest.Pytester) -> None:
    text = (ROOT / "docs" / "testing.md").read_text()
    files = dict(re.findall(r"```python\n# (\w+)\.py[^\n]*\n(.*?)```", text, re.DOTALL))
    assert set(files) == {"handlers", "test_handlers"}
    pytester.makepyfile(**files)
    result = pytester.runpytest_subprocess(*STRICT, timeout=80)
    result.assert_outcomes(passed=3)
