"""Two hundred node processes started at once against one controller on one machine (slow)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mesh import BROADCAST, Global
from mesh.bench._cpu import process_cpu
from tests._support.proc import ROOT, Proc
from tests._support.workers import wait_until

HERD = 200
# Then this many more, one by one, to read the controller's CPU per join at HERD members.
LATE = 20


class Herd:
    """Node processes (``tests._support.herd_node``), each writing to its own log file; killed by PID."""

    def __init__(self, port: int, logs: Path) -> None:
        self.port = port
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(self, name: str) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "tests._support.herd_node", name, str(self.port)],
                cwd=ROOT,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def ready(self, names: list[str]) -> bool:
        for name in names:
            if self.procs[name].poll() is not None:
                pytest.fail(f"{name} exited with {self.procs[name].returncode}:\n{self.log(name)}")
        return all("READY" in self.log(name).splitlines() for name in names)

    def rss_mib(self) -> list[float]:
        sizes = []
        for proc in self.procs.values():
            with contextlib.suppress(OSError), open(f"/proc/{proc.pid}/statm") as statm:
                sizes.append(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20)
        return sizes

    def kill_all(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        for proc in self.procs.values():
            proc.wait(10)


@pytest.fixture
def herd(controller: Callable[[], tuple[Proc, int]], tmp_path: Path) -> Iterator[tuple[Herd, Proc]]:
    ctl, port = controller()
    started = Herd(port, tmp_path)
    try:
        yield started, ctl
    finally:
        started.kill_all()


def _cpu(pid: int) -> float:
    seconds = process_cpu(pid)
    assert seconds is not None
    return seconds


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_hundred_nodes_started_at_once_all_join_and_a_broadcast_reaches_them(
    herd: tuple[Herd, Proc],
) -> None:
    nodes, ctl = herd
    names = [f"herd-{i:03d}" for i in range(HERD)]
    started = time.monotonic()
    for name in names:
        nodes.start(name)
    wait_until(lambda: nodes.ready(names), 600, f"{HERD} nodes ready")
    all_ready = time.monotonic() - started
    slow_logged = sum("slow to answer" in nodes.log(name) for name in names)

    with Global(process_name="herder", host="127.0.0.1", port=nodes.port) as g:
        converged = wait_until(lambda: len(g.members()) == HERD + 1, 120, "the herder sees every node")
        reached = g.call.herd_name() & BROADCAST(return_result=True)
        assert reached == {name: name for name in names}
        broadcast_started = time.perf_counter()
        assert len(g.call.herd_name() & BROADCAST(return_result=True)) == HERD
        broadcast = time.perf_counter() - broadcast_started

        # The controller's CPU per join at HERD members: LATE more nodes joining one by one, less the
        # controller's idle cost (keepalive pings of HERD streams) over the same time.
        idle_before = _cpu(ctl.pid)
        time.sleep(2.0)
        idle_rate = (_cpu(ctl.pid) - idle_before) / 2.0
        late = [f"late-{i:02d}" for i in range(LATE)]
        cpu_before, late_started = _cpu(ctl.pid), time.monotonic()
        for name in late:
            nodes.start(name)
            wait_until(lambda n=name: nodes.ready([n]), 60, f"{name} ready")
        late_seconds = time.monotonic() - late_started
        per_join = (_cpu(ctl.pid) - cpu_before - idle_rate * late_seconds) / LATE
        wait_until(lambda: len(g.members()) == HERD + LATE + 1, 60, "the herder sees the late nodes")

    rss = sorted(nodes.rss_mib())
    print(
        f"\n{HERD} nodes: all ready {all_ready:.1f} s after the first start ({slow_logged} logged a slow controller); "
        f"the herder saw all {converged:.2f} s after joining; BROADCAST to {HERD}: {broadcast * 1000:.0f} ms; "
        f"controller CPU per join at {HERD} members: {per_join * 1000:.2f} ms (idle {idle_rate * 1000:.0f} ms/s); "
        f"node RSS median {rss[len(rss) // 2]:.0f} MiB"
    )
