"""Flows (mesh.flows, after the datagraph seed): the seed's example, resolving, running here and on
other nodes, values streamed as they are produced."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import pytest

from mesh import Global, PeerUnavailable, UsageError
from mesh.flows import IO, Depends, Flow, IOVal, Processor, Supervisor
from tests._support import marked
from tests._support.proc import Proc, free_port
from tests._support.workers import wait_until

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seeds" / "datagraph.md"
EXAMPLE = ROOT / "examples" / "datagraph.py"
ATTACH = 'Supervisor.attach(Global(process_name="datagraph", init_controller=True))'


@pytest.fixture(autouse=True)
def detached() -> Iterator[None]:
    yield
    Supervisor.detach()


def _code(text: str) -> list[str]:
    """The lines of a script but its imports, blank lines and Supervisor.attach line."""
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line.startswith(("from ", "import ", "Supervisor.attach("))
    ]


@pytest.mark.skipif(not SEED.exists(), reason=f"datagraph's README ({SEED}) is not beside this checkout")
def test_example_differs_from_the_seed_only_in_imports_and_attach() -> None:
    seed = SEED.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    assert _code(EXAMPLE.read_text()) == _code(seed)
    assert ATTACH in EXAMPLE.read_text()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_seed_example_prints_0_2_4_6_8(backend: str, tmp_path: Path) -> None:
    script = tmp_path / "datagraph.py"
    script.write_text(EXAMPLE.read_text().replace('backend="trio"', f"backend={backend!r}"))
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=80, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["0", "2", "4", "6", "8"]


# Resolving


def test_resolve_refuses_a_cycle() -> None:
    a = Processor("cyc_a", inputs=["x"], outputs=["y"])
    b = Processor("cyc_b", inputs=["y"], outputs=["x"])
    with pytest.raises(UsageError, match=r"cycle: (cyc_a -> cyc_b -> cyc_a|cyc_b -> cyc_a -> cyc_b)"):
        Flow.from_tasks(a, b).resolve()


def test_resolve_refuses_two_producers_of_one_output() -> None:
    a = Processor("two_a", inputs=["x"], outputs=["y"])
    b = Processor("two_b", inputs=["x"], outputs=["y"])
    with pytest.raises(UsageError, match="output 'y' has two producers: 'two_a' and 'two_b'"):
        Flow.from_tasks(a, b).resolve()


def test_resolve_refuses_an_input_nobody_produces() -> None:
    a = Processor("lone", inputs=["x", "w"], outputs=["y"])
    with pytest.raises(UsageError, match=r"inputs nobody produces: \{'w': \['lone'\]\}"):
        Flow.from_tasks(a).resolve(inputs=["x"])
    assert Flow.from_tasks(a).resolve(inputs=["x", "w"]).inputs == ("x", "w")


def test_processor_and_flow_refuse_bad_definitions() -> None:
    p = Processor("bad_defs", inputs=["x"], outputs=["y"])
    with pytest.raises(UsageError, match="async generator function"):
        p(lambda x: x)

    async def no_input(z: int) -> AsyncIterator[IOVal[int]]:
        yield IOVal("y", z)

    with pytest.raises(UsageError, match="parameter 'z' of no_input is neither one of its inputs"):
        p(no_input)

    async def once(x: IO[int]) -> AsyncIterator[IOVal[int]]:
        yield IOVal("y", await x.first())

    p(once)
    with pytest.raises(UsageError, match="implemented already, by once"):
        p(once)
    twin = Processor("bad_defs", inputs=["x"], outputs=["y"])
    with pytest.raises(UsageError, match="implemented already in this process"):
        twin(once)
    assert twin.implementation is None
    with pytest.raises(UsageError, match="cannot feed itself"):
        Processor("selfish", inputs=["x"], outputs=["x"])
    with pytest.raises(UsageError, match="list of names"):
        Processor("stringy", inputs="x", outputs=["y"])
    with pytest.raises(UsageError, match="each processor once"):
        Flow.from_tasks(p, p)


def test_mermaid_draws_processors_and_streams() -> None:
    a = Processor("m_a", inputs=["x"], outputs=["y"])
    b = Processor("m_b", inputs=["y"], outputs=["z"])
    assert Flow.from_tasks(a, b).resolve().mermaid().splitlines() == [
        "flowchart LR",
        "    p_m_a[m_a]",
        "    p_m_b[m_b]",
        "    io_x([x])",
        "    io_y([y])",
        "    io_z([z])",
        "    io_x --> p_m_a",
        "    p_m_a --> io_y",
        "    io_y --> p_m_b",
        "    p_m_b --> io_z",
    ]


# Running in this process


async def offset() -> int:
    return 1


def _gated_count(name: str, gate: anyio.Event) -> Processor:
    """``name``: limit -> numbers, yielding 0, then waiting for ``gate``, then 1 .. limit-1."""
    count = Processor(name, inputs=["limit"], outputs=["numbers"])

    @count
    async def _count(limit: IO[int]) -> AsyncIterator[IOVal[int]]:
        n = await limit.first()
        yield IOVal("numbers", 0)
        await gate.wait()
        for i in range(1, n):
            yield IOVal("numbers", i)

    return count


async def _collect_gated(result: IO[Any], gate: anyio.Event, key: Callable[[Any], Any]) -> list[Any]:
    """Every value of ``result``; the gate opens only once the first has arrived."""
    got = []
    with anyio.fail_after(30):
        async for item in result.stream():
            got.append(key(item))
            gate.set()
    return got


@pytest.mark.timeout(60)
def test_a_local_chain_streams_values_as_they_are_produced() -> None:
    """square starts on count's first value: count waits for the flow's first output before it goes on."""

    async def main() -> list[int]:
        gate = anyio.Event()
        count = _gated_count("local_count", gate)
        square = Processor("local_square", inputs=["numbers"], outputs=["squares"])

        @square
        async def _square(numbers: IO[int], plus: Annotated[int, Depends(offset)]) -> AsyncIterator[IOVal[int]]:
            async for n in numbers.stream():
                yield IOVal("squares", n * n + plus)

        Supervisor.attach(buffer=2)
        flow = Flow.from_tasks(count, square).resolve()
        result = await Supervisor.instance.start_flow(flow, inputs=[IOVal("limit", 50)])
        assert list(result) == ["squares"]
        return await _collect_gated(result["squares"], gate, lambda v: v)

    assert anyio.run(main) == [n * n + 1 for n in range(50)]


@pytest.mark.timeout(60)
def test_an_error_reaches_the_reader_after_the_values_before_it() -> None:
    async def main() -> tuple[list[int], BaseException]:
        broken = Processor("local_broken", inputs=["n"], outputs=["out"])

        @broken
        async def _broken(n: IO[int]) -> AsyncIterator[IOVal[int]]:
            yield IOVal("out", await n.first())
            raise KeyError("lost")

        Supervisor.attach()
        result = await Supervisor.instance.start_flow(Flow.from_tasks(broken).resolve(), inputs=[IOVal("n", 7)])
        got: list[int] = []
        with pytest.raises(KeyError) as caught:
            async for value in result["out"].stream():
                got.append(value)
        with pytest.raises(UsageError, match="read once"):
            await result["out"].first()
        return got, caught.value

    got, error = anyio.run(main)
    assert got == [7] and error.args == ("lost",)


def test_start_flow_refuses_what_it_cannot_run() -> None:
    async def main() -> None:
        declared = Processor("nowhere", inputs=["x"], outputs=["y"])
        with pytest.raises(UsageError, match=r"Supervisor\.attach"):
            Supervisor.instance  # noqa: B018 - the attribute's access is what raises
        Supervisor.attach()
        with pytest.raises(UsageError, match="resolved Flow"):
            await Supervisor.instance.start_flow(Flow.from_tasks(declared), inputs=[IOVal("x", 1)])
        flow = Flow.from_tasks(declared).resolve()
        with pytest.raises(UsageError, match="inputs nobody produces"):
            await Supervisor.instance.start_flow(flow)
        with pytest.raises(UsageError, match="no Global"):
            await Supervisor.instance.start_flow(flow, inputs=[IOVal("x", 1)])

    anyio.run(main)


# Across processes


async def _offered(g: Global, name: str) -> None:
    def offered() -> bool:
        return any(name in member["callbacks"] for member in g.members())

    await anyio.to_thread.run_sync(wait_until, offered, 20, f"a member offering {name}")


@pytest.mark.timeout(120)
def test_a_processor_on_another_node_takes_values_as_they_come(spawn: Callable[..., Proc]) -> None:
    """count runs here, double on a worker that implements it: double's first output arrives while
    count still waits for it, so values cross the nodes one by one, each way."""
    port = free_port()

    async def main() -> tuple[list[Any], list[Any]]:
        async with Global(process_name="starter", init_controller=True, host="127.0.0.1", port=port) as g:
            worker = spawn("w1", "--port", str(port), module="tests._support.flow_node")
            pid = int((await anyio.to_thread.run_sync(worker.wait_line, "READY")).split()[1])
            await _offered(g, "flows.double")
            gate = anyio.Event()
            count = _gated_count("remote_count", gate)
            double = Processor(name="double", inputs=["numbers"], outputs=["doubled"])
            Supervisor.attach(g, buffer=4)
            flow = Flow.from_tasks(count, double).resolve()
            result = await Supervisor.instance.start_flow(flow, inputs=[IOVal("limit", 100)])
            got = await _collect_gated(result["doubled"], gate, lambda v: (v["value"], v["pid"]))

            fail = Processor(name="fail", inputs=["numbers"], outputs=["failed"])
            result = await Supervisor.instance.start_flow(
                Flow.from_tasks(fail).resolve(), inputs=[IOVal("numbers", 3), IOVal("numbers", 4)]
            )
            failed: list[Any] = []
            with pytest.raises(ValueError, match="fail gives up after one value"), anyio.fail_after(30):
                async for value in result["failed"].stream():
                    failed.append(value)

            other = Processor(name="double", inputs=["other"], outputs=["doubled"])
            result = await Supervisor.instance.start_flow(Flow.from_tasks(other).resolve(), inputs=[IOVal("other", 1)])
            with pytest.raises(UsageError, match=r"'double' on node 'w1' reads \['numbers'\]; the flow .* \['other'\]"):
                await result["doubled"].first()
            Supervisor.detach()
        assert {p for _, p in got} == {pid} != {os.getpid()}
        return [v for v, _ in got], failed

    values, failed = anyio.run(main)
    assert values == [2 * n for n in range(100)]
    assert failed == [3]


@pytest.mark.timeout(60)
def test_values_fan_out_and_an_error_travels_downstream() -> None:
    """Two processors read one input, each all of it; an upstream error is raised by what reads
    the processor downstream of it."""

    async def main() -> tuple[list[int], list[int], BaseException]:
        split = Processor("fan_upstream", inputs=["n"], outputs=["half"])
        whole = Processor("fan_whole", inputs=["n"], outputs=["all"])
        after = Processor("fan_downstream", inputs=["half"], outputs=["end"])

        @split
        async def _split(n: IO[int]) -> AsyncIterator[IOVal[int]]:
            async for value in n.stream():
                if value == 3:
                    raise LookupError("no 3")
                yield IOVal("half", value)

        @whole
        async def _whole(n: IO[int]) -> AsyncIterator[IOVal[int]]:
            async for value in n.stream():
                yield IOVal("all", value)

        @after
        async def _after(half: IO[int]) -> AsyncIterator[IOVal[int]]:
            async for value in half.stream():
                yield IOVal("end", value * 10)

        Supervisor.attach()
        flow = Flow.from_tasks(after, split, whole).resolve(inputs=["n"])
        result = await Supervisor.instance.start_flow(flow, inputs=[IOVal("n", i) for i in range(5)])
        assert sorted(result) == ["all", "end"]
        ends: list[int] = []
        with anyio.fail_after(30):
            every = [value async for value in result["all"].stream()]
            with pytest.raises(LookupError) as caught:
                async for value in result["end"].stream():
                    ends.append(value)
        return every, ends, caught.value

    every, ends, error = anyio.run(main)
    assert every == [0, 1, 2, 3, 4]
    assert ends == [0, 10, 20] and error.args == ("no 3",)


@pytest.mark.timeout(60)
def test_on_trio_a_processor_on_another_node_is_refused_by_name() -> None:
    """The mesh's calls run on asyncio: on trio, the readers of a remote processor learn why."""

    async def main(g: Global) -> None:
        Supervisor.attach(g)
        declared = Processor(name="elsewhere", inputs=["x"], outputs=["y"])
        result = await Supervisor.instance.start_flow(Flow.from_tasks(declared).resolve(), inputs=[IOVal("x", 1)])
        with pytest.raises(UsageError, match=r"'elsewhere' runs on another node: .* runs on asyncio"):
            await result["y"].first()

    with Global(process_name="solo", init_controller=True) as g:
        anyio.run(main, g, backend="trio")


@pytest.mark.timeout(120)
def test_values_between_two_processors_on_other_nodes_go_directly(spawn: Callable[..., Proc]) -> None:
    """count here -> tag on w1 -> untag on w2 -> here: untag's first output arrives while count still
    waits for it, and no tagged value (a Marked) is ever unpickled here. Then fail on w1 -> relay on
    w2: fail's error reaches relay over the direct edge and comes out of relay here."""
    port = free_port()
    before = marked.UNPICKLED[0]

    async def main() -> tuple[list[Any], set[int], list[Any]]:
        async with Global(process_name="starter", init_controller=True, host="127.0.0.1", port=port) as g:
            w1, w2 = (
                spawn(name, "--port", str(port), "--implement", job, module="tests._support.flow_node")
                for name, job in (("w1", "tag"), ("w2", "untag,relay"))
            )
            pids = {int((await anyio.to_thread.run_sync(w.wait_line, "READY")).split()[1]) for w in (w1, w2)}
            for name in ("flows.tag", "flows.untag", "flows.relay"):
                await _offered(g, name)
            Supervisor.attach(g, buffer=4)
            gate = anyio.Event()
            tag = Processor(name="tag", inputs=["numbers"], outputs=["tagged"])
            untag = Processor(name="untag", inputs=["tagged"], outputs=["untagged"])
            flow = Flow.from_tasks(_gated_count("direct_count", gate), tag, untag).resolve()
            result = await Supervisor.instance.start_flow(flow, inputs=[IOVal("limit", 200)])
            got = await _collect_gated(result["untagged"], gate, lambda v: (v["value"], v["pid"]))

            fail = Processor(name="fail", inputs=["numbers"], outputs=["failed"])
            relay = Processor(name="relay", inputs=["failed"], outputs=["relayed"])
            flow = Flow.from_tasks(fail, relay).resolve()
            result = await Supervisor.instance.start_flow(flow, inputs=[IOVal("numbers", 3), IOVal("numbers", 4)])
            relayed: list[Any] = []
            with pytest.raises(ValueError, match="fail gives up after one value"), anyio.fail_after(30):
                async for value in result["relayed"].stream():
                    relayed.append(value)
            Supervisor.detach()
        return got, pids, relayed

    got, pids, relayed = anyio.run(main)
    assert [v for v, _ in got] == list(range(200))
    assert len({p for _, p in got}) == 1 and {p for _, p in got} < pids
    assert marked.UNPICKLED[0] == before
    assert relayed == [3]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("killed", ["w1", "w2"])
def test_the_death_of_either_end_of_a_direct_edge_reaches_the_results(spawn: Callable[..., Proc], killed: str) -> None:
    """count here -> tag on w1 -> untag on w2: once untag's first output is here, the node of tag
    (or of untag) is SIGKILLed; reading the results raises PeerUnavailable, and nothing hangs."""
    port = free_port()

    async def main() -> None:
        async with Global(process_name="starter", init_controller=True, host="127.0.0.1", port=port) as g:
            workers = {
                name: spawn(name, "--port", str(port), "--implement", job, module="tests._support.flow_node")
                for name, job in (("w1", "tag"), ("w2", "untag"))
            }
            for worker in workers.values():
                await anyio.to_thread.run_sync(worker.wait_line, "READY")
            for name in ("flows.tag", "flows.untag"):
                await _offered(g, name)
            Supervisor.attach(g, buffer=4)
            gate = anyio.Event()
            tag = Processor(name="tag", inputs=["numbers"], outputs=["tagged"])
            untag = Processor(name="untag", inputs=["tagged"], outputs=["untagged"])
            flow = Flow.from_tasks(_gated_count(f"killed_count_{killed}", gate), tag, untag).resolve()
            result = await Supervisor.instance.start_flow(flow, inputs=[IOVal("limit", 10**9)])
            with pytest.raises(PeerUnavailable), anyio.fail_after(30):
                async for _ in result["untagged"].stream():
                    if not gate.is_set():
                        workers[killed].signal(signal.SIGKILL)
                        gate.set()
            Supervisor.detach()

    anyio.run(main)


@pytest.mark.timeout(120)
def test_a_reader_on_another_node_that_stops_early_stops_its_producers(spawn: Callable[..., Proc]) -> None:
    """endless count (here) -> tag (w1) -> head (w2), which reads one value and returns: tag, its
    only reader gone, stops, and so does count, whose only reader tag was."""
    port = free_port()

    async def main() -> list[Any]:
        async with Global(process_name="starter", init_controller=True, host="127.0.0.1", port=port) as g:
            for name, job in (("w1", "tag"), ("w2", "head")):
                worker = spawn(name, "--port", str(port), "--implement", job, module="tests._support.flow_node")
                await anyio.to_thread.run_sync(worker.wait_line, "READY")
            for name in ("flows.tag", "flows.head"):
                await _offered(g, name)
            Supervisor.attach(g, buffer=4)
            stopped = anyio.Event()
            count = Processor("endless_count", inputs=["limit"], outputs=["numbers"])

            @count
            async def _count(limit: IO[int]) -> AsyncIterator[IOVal[int]]:
                await limit.first()
                try:
                    for n in itertools.count():
                        yield IOVal("numbers", n)
                finally:
                    stopped.set()

            tag = Processor(name="tag", inputs=["numbers"], outputs=["tagged"])
            head = Processor(name="head", inputs=["tagged"], outputs=["first"])
            flow = Flow.from_tasks(count, tag, head).resolve()
            result = await Supervisor.instance.start_flow(flow, inputs=[IOVal("limit", 1)])
            with anyio.fail_after(30):
                got = [value async for value in result["first"].stream()]
                await stopped.wait()
            Supervisor.detach()
            return got

    assert anyio.run(main) == [0]
