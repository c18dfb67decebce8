"""How ``bench/jobs.py`` runs each peer job system: its worker processes, and its submit and wait."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Peer:
    """A job system: ``workers(url, n)`` are the commands that start its ``n`` worker processes, and
    ``client(url)`` gives ``(submit, wait)``: ``submit(x)`` enqueues ``double(x)``, ``wait(handle)``
    blocks for its result."""

    name: str
    module: str
    install: str
    workers: Callable[[str, int], list[list[str]]]
    client: Callable[[str], tuple[Callable[[int], Any], Callable[[Any], int]]]

    def missing(self) -> str | None:
        """Why this peer cannot run here, or None."""
        try:
            importlib.import_module(self.module)
        except ImportError:
            return f"{self.name} is not installed: {self.install}"
        return None


def _celery_client(url: str) -> tuple[Callable[[int], Any], Callable[[Any], int]]:
    from job_peers.celery_tasks import double

    return double.delay, lambda result: int(result.get(timeout=120))


def _rq_client(url: str) -> tuple[Callable[[int], Any], Callable[[Any], int]]:
    from redis import Redis
    from rq import Queue

    queue = Queue(connection=Redis.from_url(url))

    def wait(job: Any) -> int:
        result = job.latest_result(timeout=120)
        if result is None:
            raise TimeoutError(f"RQ job {job.id} gave no result in 120 s")
        return int(result.return_value)

    return lambda x: queue.enqueue("job_peers.rq_tasks.double", x), wait


def _dramatiq_client(url: str) -> tuple[Callable[[int], Any], Callable[[Any], int]]:
    from job_peers.dramatiq_tasks import double

    return double.send, lambda message: int(message.get_result(block=True, timeout=120_000))


def _huey_client(url: str) -> tuple[Callable[[int], Any], Callable[[Any], int]]:
    from job_peers.huey_tasks import double

    return double, lambda result: int(result.get(blocking=True, timeout=120))


PEERS = [
    Peer(
        "Celery (prefork)", "celery", "pip install celery redis",
        lambda url, n: [[sys.executable, "-m", "celery", "-A", "job_peers.celery_tasks", "worker", "--pool", "prefork",
                         "--concurrency", str(n), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                         "--without-heartbeat"]],
        _celery_client,
    ),
    Peer(
        "RQ (SimpleWorker)", "rq", "pip install rq",
        lambda url, n: [[str(BIN / "rq"), "worker", "--url", url, "--worker-class", "rq.SimpleWorker", "--quiet",
                         "default"]] * n,
        _rq_client,
    ),
    Peer(
        "Dramatiq", "dramatiq", "pip install 'dramatiq[redis]'",
        lambda url, n: [[sys.executable, "-m", "dramatiq", "job_peers.dramatiq_tasks", "--processes", str(n),
                         "--threads", "1"]],
        _dramatiq_client,
    ),
    Peer(
        "Huey", "huey", "pip install huey redis",
        lambda url, n: [[str(BIN / "huey_consumer"), "job_peers.huey_tasks.huey", "-w", str(n), "-k", "process",
                         "-q"]],
        _huey_client,
    ),
]  # fmt: skip


@contextlib.contextmanager
def _workers(commands: list[list[str]]) -> Iterator[None]:
    """The worker processes, each in a session of its own, whose whole group is stopped at the end."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")]))}
    procs = [
        subprocess.Popen(command, cwd=BENCH, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for command in commands
    ]  # fmt: skip
    try:
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def measure(peer: Peer, url: str, jobs: int, workers: int) -> tuple[float, float]:
    """``peer``'s jobs/s for ``jobs`` submitted at once, submit to the last result, and one job's round
    trip (the median of 200), with ``workers`` worker processes on the Redis server at ``url``."""
    import redis

    redis.Redis.from_url(url).flushdb()
    os.environ["BENCH_REDIS_URL"] = url
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    submit, wait = peer.client(url)
    with _workers(peer.workers(url, workers)):
        assert wait(submit(21)) == 42  # the workers are up
        began = time.perf_counter()
        handles = [submit(x) for x in range(jobs)]
        assert [wait(handle) for handle in handles] == [2 * x for x in range(jobs)]
        rate = jobs / (time.perf_counter() - began)
        trips = []
        for x in range(200):
            started = time.perf_counter()
            wait(submit(x))
            trips.append(time.perf_counter() - started)
    return rate, statistics.median(trips)
