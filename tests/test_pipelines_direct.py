"""mesh.pipelines across three processes: items between two processors on other nodes go from one
to the other directly, never through the builder; errors, a dead node and cancelling still stop all (issue 23)."""

from __future__ import annotations

import itertools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import anyio
import pytest

from mesh import FG, Global, PeerUnavailable
from mesh.bench._rss import PeakRss
from mesh.pipelines import Plumber, Processor
from tests._support import marked
from tests._support.main_node import main_node
from tests._support.proc import Proc
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(90)
MiB = 1024 * 1024


@pytest.fixture
def mesh3(spawn: Callable[..., Proc]) -> Iterator[tuple[Global, Proc, Proc]]:
    """Node 'main' here (the builder); 'w1' and 'w2' serving tests/_support/pipeline_worker.py's processors."""
    g, where = main_node("tcp")
    try:
        workers = [spawn("--name", name, *where, module="tests._support.pipeline_worker") for name in ("w1", "w2")]
        for worker in workers:
            worker.wait_line("READY")
        wait_until(lambda: serving(g) == {"w1", "w2"}, 10, "w1 and w2 serving")
        yield g, workers[0], workers[1]
    finally:
        g.stop()


def serving(g: Global) -> set[str]:
    return {m["name"] for m in g.members() if "pipelines.open_edges" in m["callbacks"]}


def chain(first: str, second: str, feed: Any, sink: Any) -> dict[str, Any]:
    """inp (here) -> n1 (w1) -> n2 (w2) -> out (here)."""
    return {
        "nodes": {
            "inp": {"coro": feed},
            "n1": {"coro": first, "node": "w1"},
            "n2": {"coro": second, "node": "w2"},
            "out": {"coro": sink},
        },
        "graph": {"inp": ("n1",), "n1": ("n2",), "n2": ("out",), "out": None},
    }


async def endless(self: Processor, output_q: Any) -> None:
    for i in itertools.count():
        await output_q.put("boom" if i == 50 else f"word-{i}")


async def ignore(self: Processor, q_elt: tuple[Any, ...]) -> None:
    return None


def no_edges_left(g: Global, nodes: tuple[str, ...] = ("w1", "w2")) -> None:
    """Wait until each of ``nodes`` keeps no direct edge (they are dropped when a run ends, however)."""
    for node in nodes:
        wait_until(partial(no_edges_on, g, node), 10, f"{node}'s edges")


def no_edges_on(g: Global, node: str) -> bool:
    return bool(g.call.pipelines.open_edges() & FG(receiver=node) == 0)


def test_items_between_two_remote_processors_go_from_node_to_node_not_through_the_builder(
    mesh3: tuple[Global, Proc, Proc],
) -> None:
    g, _, w2 = mesh3
    got: list[Any] = []

    async def words(self: Processor, output_q: Any) -> None:
        for i in range(500):
            await output_q.put(f"word-{i}")

    async def keep(self: Processor, q_elt: tuple[Any, ...]) -> None:
        got.append(q_elt[0])

    plumber = Plumber(chain("pipelines.mark", "pipelines.unmark", words, keep), g=g, buffer_size=4)
    before = marked.UNPICKLED[0]
    anyio.run(plumber.run)
    assert [word for word, _ in got] == [f"word-{i}"[::-1] for i in range(500)]
    assert {pid for _, pid in got} == {w2.pid}
    # n1's items (Marked) were unpickled on w2 only: not once in this process, the builder.
    assert marked.UNPICKLED[0] == before
    stats = plumber.statistics()
    assert [(stats[n].items_in, stats[n].items_out) for n in ("n1", "n2")] == [(500, 500), (500, 500)]
    no_edges_left(g)


@pytest.mark.parametrize("failing", ["n1", "n2"])
def test_a_processor_raising_on_either_end_of_a_direct_edge_stops_the_pipeline_with_its_error(
    mesh3: tuple[Global, Proc, Proc], failing: str
) -> None:
    g = mesh3[0]
    first, second = (
        ("pipelines.failing", "pipelines.slow") if failing == "n1" else ("pipelines.slow", "pipelines.failing")
    )
    with pytest.raises(ValueError, match=r"pipelines\.failing refused 'boom'") as raised:
        anyio.run(Plumber(chain(first, second, endless, ignore), g=g, buffer_size=4).run)
    if sys.version_info >= (3, 11):
        assert f"raised in pipeline processor {failing!r}" in raised.value.__notes__
    no_edges_left(g)


@pytest.mark.parametrize("killed", ["w1", "w2"])
def test_the_death_of_either_end_of_a_direct_edge_stops_the_pipeline(
    mesh3: tuple[Global, Proc, Proc], killed: str
) -> None:
    g, w1, w2 = mesh3
    taken = 0

    async def sink(self: Processor, q_elt: tuple[Any, ...]) -> None:
        nonlocal taken
        taken += 1
        if taken == 20:
            (w1 if killed == "w1" else w2).signal(signal.SIGKILL)

    async def feed(self: Processor, output_q: Any) -> None:
        for i in itertools.count():
            await output_q.put(f"word-{i}")

    with pytest.raises(PeerUnavailable):
        anyio.run(Plumber(chain("pipelines.slow", "pipelines.reverse", feed, sink), g=g, buffer_size=4).run)
    no_edges_left(g, ("w2" if killed == "w1" else "w1",))


def test_cancelling_a_pipeline_with_a_direct_edge_stops_both_nodes_and_leaves_nothing(
    mesh3: tuple[Global, Proc, Proc],
) -> None:
    g = mesh3[0]

    async def feed(self: Processor, output_q: Any) -> None:
        for i in itertools.count():
            await output_q.put(f"word-{i}")

    async def main() -> None:
        pipeline = Plumber(chain("pipelines.slow", "pipelines.reverse", feed, ignore), g=g, buffer_size=4)
        running = pipeline.create_pipeline()
        with anyio.fail_after(20):
            while running.statistics()["inp"].items_out < 100:
                await anyio.sleep(0.01)
                assert not running.done()
        await running.aclose()
        assert running.done()

    anyio.run(main)
    no_edges_left(g)


@pytest.mark.timeout(180)
def test_a_slow_remote_sink_holds_every_processs_memory_flat(mesh3: tuple[Global, Proc, Proc]) -> None:
    """A fast source here pushes 256 KiB items through n1 (w1) to a slow sink (n2 on w2): 300 MiB in
    all, while no process's peak memory grows by 50 MiB."""
    g, w1, w2 = mesh3
    size, count = 256 * 1024, 1200

    async def flood(self: Processor, output_q: Any) -> None:
        for _ in range(count):
            await output_q.put(b"x" * size)

    graph = {
        "nodes": {
            "inp": {"coro": flood},
            "n1": {"coro": "pipelines.same", "node": "w1"},
            "n2": {"coro": "pipelines.slow", "node": "w2"},
        },
        "graph": {"inp": ("n1",), "n1": ("n2",), "n2": None},
    }
    # Each process holds at most its edges' buffers (16 items each) and its streams' windows (8
    # messages; with the mesh's default of 256, up to 8 MiB of encoded items per stream instead).
    plumber = Plumber(graph, g=g, window=8)
    with PeakRss([os.getpid(), w1.pid, w2.pid]) as peak:
        anyio.run(plumber.run)
    assert plumber.statistics()["n2"].items_in == count
    assert size * count > 250 * MiB
    assert len(peak.growth) == 3, peak.growth
    assert max(peak.growth.values()) < 50 * MiB, {pid: round(grown / MiB) for pid, grown in peak.growth.items()}


@pytest.mark.parametrize("aggregate", [True, False])
def test_a_remote_processor_takes_inputs_from_here_and_from_another_node_at_once(
    mesh3: tuple[Global, Proc, Proc], aggregate: bool
) -> None:
    """n2 (w2) reads inp (here, through this process) and n1 (w1, directly from w1): aggregated, it
    pairs them in the order of its sources; not aggregated, it takes every item of both."""
    g = mesh3[0]
    got: list[Any] = []

    async def words(self: Processor, output_q: Any) -> None:
        for i in range(100):
            await output_q.put(f"word-{i}")

    async def keep(self: Processor, q_elt: tuple[Any, ...]) -> None:
        got.append(q_elt[0])

    graph = {
        "nodes": {
            "inp": {"coro": words},
            "n1": {"coro": "pipelines.mark", "node": "w1"},
            "n2": {"coro": "pipelines.pair", "node": "w2", "properties": {"aggregate_inputs": aggregate}},
            "out": {"coro": keep},
        },
        "graph": {"inp": ("n1", "n2"), "n1": ("n2",), "n2": ("out",), "out": None},
    }
    before = marked.UNPICKLED[0]
    anyio.run(Plumber(graph, g=g, buffer_size=4).run)
    assert marked.UNPICKLED[0] == before
    if aggregate:
        assert got == [(f"word-{i}", f"word-{i}") for i in range(100)]
    else:
        assert sorted(got) == sorted([(f"word-{i}",) for i in range(100)] * 2)
    no_edges_left(g)
