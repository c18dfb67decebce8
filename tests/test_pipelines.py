"""mesh.pipelines: the seed's Plumber examples, its graph rules, and what the seed left open (issue 23, part 1)."""

from __future__ import annotations

import ast
import asyncio
import itertools
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from examples import pipelines_readme, pipelines_seed_graph
from examples.pipelines_seed_graph import StringFunc, getcoro, input_d
from mesh import Global, PeerUnavailable, UsageError
from mesh.pipelines import Plumber, Processor
from tests._support.main_node import main_node
from tests._support.proc import MESH_COMMAND, Proc

pytestmark = pytest.mark.timeout(60)


def test_the_readme_example_prints_20_strings_beside_their_reverse(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(pipelines_readme.main())
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20
    for line in lines:
        original, reversed_ = ast.literal_eval(line.removeprefix("output~>  "))
        assert reversed_ == original[::-1]
        uuid.UUID(original)


def test_the_seed_test_graph_runs_and_the_non_aggregated_sink_takes_every_item_alone() -> None:
    StringFunc.outputs = []
    plumber = asyncio.run(pipelines_seed_graph.main())
    assert all(len(item) == 1 for item in StringFunc.outputs)
    items = [item for (item,) in StringFunc.outputs]
    uppers, lowers = [s for s in items if s.isupper()], [s for s in items if s.islower()]
    assert len(uppers) == len(lowers) == 20
    # n2 uppers n1's reverse; n3 lowers n1's reverse (the first of its aggregated pair).
    assert sorted(s.lower() for s in uppers) == sorted(lowers)
    stats = plumber.statistics()
    assert [stats[name].items_in for name in ("inp", "n1", "n2", "n3", "n4")] == [0, 20, 20, 20, 40]
    assert [stats[name].items_out for name in ("inp", "n1", "n2", "n3", "n4")] == [20, 20, 20, 20, 40]
    assert all(s.queue_depth == 0 for s in stats.values())


def test_the_pipeline_draws_itself_as_the_seed_readme_does() -> None:
    assert Plumber(input_d, coro_map=getcoro).mermaid() == textwrap.dedent("""\
        graph LR;
            inp((inp))-->n1((n1));
            n1((n1))-->n2((n2));
            n1((n1))-->n3((n3));
            n2((n2))-->n3((n3));
            n2((n2))-->n4((n4));
            n3((n3))-->n4((n4));""")


async def endless(self: Processor, output_q: Any) -> None:
    for i in itertools.count():
        await output_q.put(i)


async def first(self: Processor, q_elt: tuple[Any, ...]) -> Any:
    return q_elt[0]


def test_a_processor_that_raises_surfaces_its_error_and_stops_every_processor() -> None:
    stopped: list[str] = []

    async def guarded(self: Processor, q_elt: tuple) -> Any:
        try:
            await anyio.lowlevel.checkpoint()
            return q_elt[0]
        finally:
            if q_elt[0] == 0:
                stopped.append(self.name)

    async def failing(self: Processor, q_elt: tuple) -> Any:
        if q_elt[0] == 5:
            raise KeyError("item five")
        return q_elt[0]

    async def sink(self: Processor, q_elt: tuple) -> None:
        await anyio.sleep_forever()

    graph = {
        "nodes": {"inp": {"coro": endless}, "a": {"coro": guarded}, "b": {"coro": failing}, "s": {"coro": sink}},
        "graph": {"inp": ("a",), "a": ("b",), "b": ("s",), "s": None},
    }
    plumber = Plumber(graph)
    with pytest.raises(KeyError, match="item five") as raised:
        anyio.run(plumber.run)
    if sys.version_info >= (3, 11):
        assert "raised in pipeline processor 'b'" in raised.value.__notes__
    assert stopped == ["a"]


def test_a_slow_sink_holds_every_queue_to_its_bound() -> None:
    taken = 0

    async def slow_sink(self: Processor, q_elt: tuple) -> None:
        nonlocal taken
        taken += 1
        await anyio.sleep(0.001)

    graph = {
        "nodes": {"inp": {"coro": endless}, "mid": {"coro": first}, "out": {"coro": slow_sink}},
        "graph": {"inp": ("mid",), "mid": ("out",), "out": None},
    }

    async def main() -> None:
        plumber = Plumber(graph, buffer_size=4)
        pipeline = plumber.create_pipeline()
        while taken < 200:
            await anyio.sleep(0.01)
            stats = pipeline.statistics()
            # Two edges of 4, plus the item each of mid and out holds, plus the one inp is sending.
            assert stats["inp"].items_out - taken <= 4 + 4 + 3
            assert stats["mid"].queue_depth <= 4 and stats["out"].queue_depth <= 4
        await pipeline.aclose()
        assert pipeline.done()

    anyio.run(main)


def test_an_aggregated_node_whose_sources_send_unequal_counts_is_refused() -> None:
    async def five(self: Processor, output_q: Any) -> None:
        for i in range(5):
            await output_q.put(i)

    async def three(self: Processor, output_q: Any) -> None:
        for i in range(3):
            await output_q.put(i)

    async def join(self: Processor, q_elt: tuple) -> None:
        pass

    graph = {
        "nodes": {"a": {"coro": five}, "b": {"coro": three}, "j": {"coro": join}},
        "graph": {"a": ("j",), "b": ("j",), "j": None},
    }
    with pytest.raises(UsageError, match="'j' ended while others sent more items"):
        anyio.run(Plumber(graph).run)


@pytest.mark.parametrize(
    ("input_d", "message"),
    [
        ({"nodes": {}}, "keys 'nodes' and 'graph'"),
        ({"nodes": {"a": {"coro": endless}}, "graph": {"b": None}}, "only in 'nodes': \\['a'\\]"),
        ({"nodes": {"a": {"coro": endless}}, "graph": {"a": ("x",)}}, "does not define: \\['x'\\]"),
        ({"nodes": {"a": {"coro": endless}}, "graph": {"a": "a"}}, "tuple of node names or None"),
        (
            {"nodes": {"a": {"coro": endless}, "b": {"coro": endless}}, "graph": {"a": ("b",), "b": ("a",)}},
            "cycle: a -> b -> a",
        ),
        ({"nodes": {"a": {"cor": endless}}, "graph": {"a": None}}, "with a 'coro' key"),
        (
            {"nodes": {"a": {"coro": endless, "properties": {"aggregate_input": False}}}, "graph": {"a": None}},
            "unknown keys \\['aggregate_input'\\]; known: \\['aggregate_inputs'\\]",
        ),
        ({"nodes": {"a": {"coro": "nowhere"}}, "graph": {"a": None}}, "for node 'a' gave 'nowhere'"),
    ],
)
def test_a_malformed_graph_is_refused_with_its_fault_named(input_d: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Plumber(input_d)


def test_a_plumber_runs_once_and_create_pipeline_needs_a_running_loop() -> None:
    plumber = Plumber(input_d, getcoro)
    with pytest.raises(UsageError, match="running event loop"):
        plumber.create_pipeline()
    with pytest.raises(UsageError, match="buffer_size must be at least 1"):
        Plumber(input_d, getcoro, buffer_size=0)


CTRL_C = """
import itertools, signal, anyio
from mesh.pipelines import Plumber

async def endless(self, output_q):
    try:
        for i in itertools.count():
            await output_q.put(i)
    finally:
        print("stopped", self.name, flush=True)

async def step(self, q_elt):
    return q_elt[0]

async def stuck(self, q_elt):
    print("running", flush=True)
    try:
        await anyio.sleep_forever()
    finally:
        print("stopped", self.name, flush=True)

graph = {"nodes": {"inp": {"coro": endless}, "a": {"coro": step}, "b": {"coro": stuck}},
         "graph": {"inp": ("a",), "a": ("b",), "b": None}}
# As from a terminal, even when the tests run as a background job (whose children ignore SIGINT).
signal.signal(signal.SIGINT, signal.default_int_handler)
anyio.run(Plumber(graph).run)
"""


def test_ctrl_c_stops_every_processor_and_the_program_ends(tmp_path: Path) -> None:
    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C)
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "running\n"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "KeyboardInterrupt" in err
    assert sorted(out.splitlines()) == ["stopped b", "stopped inp"]


@pytest.fixture
def mesh_with_w1(spawn: Callable[..., Proc]) -> Iterator[tuple[Global, Proc]]:
    """Node 'main' here; node 'w1' (its PID beside), serving tests/_support/pipeline_worker.py's processors."""
    g, where = main_node("tcp")
    try:
        w1 = spawn("--name", "w1", *where, module="tests._support.pipeline_worker")
        w1.wait_line("READY")
        g.wait_process("w1", timeout=10)
        g.wait_function("pipelines.reverse", timeout=10)
        g.wait_function("pipelines.failing", timeout=10)
        g.wait_function("pipelines.slow", timeout=10)
        yield g, w1
    finally:
        g.stop()


async def words(self: Processor, output_q: Any, n: int) -> None:
    for i in range(n):
        await output_q.put(f"word-{i}")


@pytest.mark.timeout(90)
def test_a_node_entry_naming_a_mesh_node_runs_its_processor_there(mesh_with_w1: tuple[Global, Proc]) -> None:
    g, w1 = mesh_with_w1
    got: list[Any] = []

    async def keep(self: Processor, q_elt: tuple[Any, ...]) -> None:
        got.append(q_elt)

    graph = {
        "nodes": {
            "inp": {"coro": words, "args": {"n": 500}},
            "rev": {"coro": "pipelines.reverse", "node": "w1"},
            "out": {"coro": keep},
        },
        "graph": {"inp": ("rev", "out"), "rev": ("out",), "out": None},
    }
    plumber = Plumber(graph, g=g, buffer_size=4)
    anyio.run(plumber.run)
    assert [(word, reversed_) for word, (reversed_, _) in got] == [(f"word-{i}", f"word-{i}"[::-1]) for i in range(500)]
    assert {pid for _, (_, pid) in got} == {w1.pid}
    stats = plumber.statistics()
    assert (stats["rev"].items_in, stats["rev"].items_out) == (500, 500)


@pytest.mark.timeout(90)
def test_a_remote_processor_that_raises_stops_the_pipeline_with_its_error(mesh_with_w1: tuple[Global, Proc]) -> None:
    async def feed(self: Processor, output_q: Any) -> None:
        for word in itertools.chain(("a", "b", "boom"), itertools.repeat("c")):
            await output_q.put(word)

    graph = {
        "nodes": {"inp": {"coro": feed}, "f": {"coro": "pipelines.failing", "node": "w1"}, "out": {"coro": first}},
        "graph": {"inp": ("f",), "f": ("out",), "out": None},
    }
    with pytest.raises(ValueError, match=r"pipelines\.failing refused 'boom'"):
        anyio.run(Plumber(graph, g=mesh_with_w1[0]).run)


@pytest.mark.timeout(90)
def test_a_slow_remote_processor_holds_the_input_back(mesh_with_w1: tuple[Global, Proc]) -> None:
    g, _ = mesh_with_w1
    window = 8

    async def main() -> None:
        graph = {
            "nodes": {"inp": {"coro": endless}, "s": {"coro": "pipelines.slow", "node": "w1"}, "out": {"coro": first}},
            "graph": {"inp": ("s",), "s": ("out",), "out": None},
        }
        plumber = Plumber(graph, g=g, buffer_size=4, window=window)
        pipeline = plumber.create_pipeline()
        while (stats := pipeline.statistics())["out"].items_in < 300:
            await anyio.sleep(0.01)
            # Two edges of 4, the windows of the streams there and back (messages of at most an
            # edge's 4 items and one more), and an item in each node.
            assert stats["inp"].items_out - stats["out"].items_in <= 4 + 4 + 2 * window * (4 + 1) + 4
        await pipeline.aclose()

    anyio.run(main)


@pytest.mark.timeout(90)
def test_the_death_of_a_remote_processors_node_stops_the_pipeline(mesh_with_w1: tuple[Global, Proc]) -> None:
    g, w1 = mesh_with_w1
    taken = 0

    async def feed(self: Processor, output_q: Any) -> None:
        for i in itertools.count():
            await output_q.put(f"word-{i}")

    async def sink(self: Processor, q_elt: tuple[Any, ...]) -> None:
        nonlocal taken
        taken += 1
        if taken == 10:
            w1.signal(signal.SIGKILL)

    graph = {
        "nodes": {"inp": {"coro": feed}, "rev": {"coro": "pipelines.reverse", "node": "w1"}, "out": {"coro": sink}},
        "graph": {"inp": ("rev",), "rev": ("out",), "out": None},
    }
    with pytest.raises(PeerUnavailable) as raised:
        anyio.run(Plumber(graph, g=g).run)
    if sys.version_info >= (3, 11):
        assert "raised in pipeline processor 'rev'" in raised.value.__notes__


def test_a_node_entry_naming_a_mesh_node_needs_a_global_and_a_served_name() -> None:
    remote = {"coro": "pipelines.reverse", "node": "w1"}
    with pytest.raises(UsageError, match="give the Plumber a Global"):
        Plumber({"nodes": {"inp": {"coro": words}, "r": remote}, "graph": {"inp": ("r",), "r": None}})
    with pytest.raises(UsageError, match="is an input node"):
        Plumber({"nodes": {"r": remote}, "graph": {"r": None}})
    with pytest.raises(UsageError, match="must be the name it is served as there"):
        Plumber({"nodes": {"r": {**remote, "coro": words}}, "graph": {"r": None}})


def test_mesh_pipeline_show_prints_the_diagram_and_names_what_it_cannot_draw(tmp_path: Path) -> None:
    (tmp_path / "my_pipeline.py").write_text(
        "from mesh.pipelines import Plumber\n"
        "async def f(self, q): pass\n"
        "plumber = Plumber({'nodes': {'a': {'coro': f}, 'b': {'coro': f}}, 'graph': {'a': ('b',), 'b': None}})\n"
    )

    def show(target: str) -> subprocess.CompletedProcess[str]:
        command = [MESH_COMMAND, "pipeline", "show", target]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=40)

    done = show("my_pipeline:plumber")
    assert (done.returncode, done.stdout) == (0, "graph LR;\n    a((a))-->b((b));\n")
    for target, message in [
        ("my_pipeline", "'my_pipeline' is not MODULE:OBJECT"),
        ("my_pipeline:nope", "'my_pipeline' has no 'nope'"),
        ("my_pipeline:f", "a function is neither a Plumber nor a pipeline's graph dict"),
        ("nowhere:x", "cannot import 'nowhere'"),
    ]:
        done = show(target)
        assert (done.returncode, done.stdout) == (2, "")
        assert message in done.stderr
