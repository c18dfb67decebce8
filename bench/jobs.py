"""The jobs service, submit to done: ``python bench/jobs.py [--jobs 5000] [--workers 3] [--runs 3] [--redis URL]``.

Starts a controller, ``mesh serve jobs --path`` (SQLite in a temporary folder; with ``--redis URL``, that
Redis server, whose namespace ``mesh:jobs:`` is emptied before each run) and ``--workers`` worker
processes offering a trivial ``double(x)``, all on loopback, and from this process (the client node):

- jobs/s: ``--jobs`` submissions with 1,000 in flight (``& BG``), from the first submit until every
  result is in (each ``result`` is asked as soon as its submit returned);
- the same with ``submit_many`` of 100 jobs a call, 10 calls in flight, and ``results`` of each batch;
- one job's round trip: ``submit & FG`` then ``result & FG``, sequential, the median of 200; and
  ``run & FG``, which submits and waits in one call.

Then, in each run, the same with each of Celery, RQ, Dramatiq and Huey that is installed (none is a
dependency: ``pip install celery rq 'dramatiq[redis]' huey``), on a redis-server of their own that
this script starts (Debian: ``apt-get install redis-server``), ``--workers`` worker processes each
(``bench/job_peers/``): all jobs submitted, then each result awaited in order; the round trip is
submit then a blocking wait for the result, the median of 200.

A fresh job table each run; the medians over ``--runs`` are printed last, as ratios of grpcmesh's.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _redis_server import redis_server
from job_peers.peers import PEERS, Peer, measure

from mesh import BG, FG, Global
from mesh.bench._kv import redis_missing
from mesh.services import Jobs

BATCH = 100
"""Jobs a ``submit_many`` call in the batched row."""

WORKER = """
from mesh import Global
def double(x):
    return 2 * x
g = Global({name!r}, host="127.0.0.1", port={port})
g.register(double, name="double")
print("READY", flush=True)
g.join()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(args: list[str], ready: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(ready):
            return proc
    raise RuntimeError(f"{args} ended before {ready!r}")


def one_run(jobs_count: int, workers: int, folder: Path, redis_url: str | None) -> tuple[float, float, float, float]:
    port = free_port()
    mesh = str(Path(sys.executable).parent / "mesh")
    procs = [start([sys.executable, "-m", "controller", "--host", "127.0.0.1", "--port", str(port)], "controller")]
    try:
        store = ["--path", str(folder / "jobs.sqlite")] if redis_url is None else ["--redis", redis_url]
        serve = [mesh, "serve", "jobs", *store, "--host", "127.0.0.1"]
        procs.append(start([*serve, "--port", str(port), "--name", "jobs"], "jobs serving"))
        for n in range(workers):
            procs.append(start([sys.executable, "-c", WORKER.format(name=f"w{n}", port=port)], "READY"))
        with Global("bench-client", host="127.0.0.1", port=port) as g:
            g.wait_function("double", timeout=10)
            jobs = Jobs(g)
            jobs.result(jobs.submit("double", 0) & FG) & FG
            began = time.perf_counter()
            pending = []
            for first in range(0, jobs_count, 1000):
                submitted = [jobs.submit("double", n) & BG for n in range(first, min(first + 1000, jobs_count))]
                pending += [jobs.result(r.get(60)) & BG(timeout=120) for r in submitted]
            assert [r.get(120) for r in pending] == [2 * n for n in range(jobs_count)]
            rate = jobs_count / (time.perf_counter() - began)
            began = time.perf_counter()
            pending = []
            for first in range(0, jobs_count, BATCH * 10):
                submitted = [
                    jobs.submit_many("double", [(n,) for n in range(at, min(at + BATCH, jobs_count))]) & BG
                    for at in range(first, min(first + BATCH * 10, jobs_count), BATCH)
                ]
                pending += [jobs.results(r.get(60)) & BG(timeout=120) for r in submitted]
            assert [x for r in pending for x in r.get(120)] == [2 * n for n in range(jobs_count)]
            batched = jobs_count / (time.perf_counter() - began)
            trips, runs = [], []
            for n in range(200):
                t = time.perf_counter()
                jobs.result(jobs.submit("double", n) & FG) & FG
                trips.append(time.perf_counter() - t)
                t = time.perf_counter()
                jobs.run("double", n) & FG
                runs.append(time.perf_counter() - t)
            return rate, batched, statistics.median(trips), statistics.median(runs)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", metavar="URL", help="keep the jobs in this Redis server instead of SQLite")
    parser.add_argument(
        "--peers", default=",".join(p.name.split()[0].lower() for p in PEERS),
        help="the peer job systems to compare with, when installed (default: all); '' for none",
    )  # fmt: skip
    options = parser.parse_args()
    chosen = [p for p in PEERS if p.name.split()[0].lower() in options.peers.lower().split(",")]
    table: dict[str, list[tuple[float, float]]] = {}
    store = "SQLite synchronous=FULL" if options.redis is None else "Redis"
    mesh_row = f"grpcmesh jobs ({store})"
    with _redis(chosen) as url:
        for run in range(options.runs):
            if options.redis is not None:
                import redis

                redis.Redis.from_url(options.redis).delete("mesh:jobs:jobs", "mesh:jobs:schedules")
            with tempfile.TemporaryDirectory() as folder:
                rate, batched, trip, run_trip = one_run(options.jobs, options.workers, Path(folder), options.redis)
            table.setdefault(mesh_row, []).append((rate, trip))
            table.setdefault(f"grpcmesh jobs, submit_many by {BATCH}", []).append((batched, math.nan))
            table.setdefault("grpcmesh jobs.run (one call a job)", []).append((math.nan, run_trip))
            if url is not None:
                for peer in chosen:
                    if peer.missing() is None:
                        table.setdefault(peer.name, []).append(measure(peer, url, options.jobs, options.workers))
            print(f"run {run + 1}: " + "; ".join(
                f"{name} {_per_s(runs[-1][0])}, {_ms(runs[-1][1])}" for name, runs in table.items()
            ), flush=True)  # fmt: skip
    for peer in chosen:
        if (why := peer.missing()) is not None:
            print(f"left out: {why}")
    print(f"\nmedians of {options.runs} runs, {options.jobs:,} jobs over {options.workers} worker processes:")
    print(f"{'':<40} {'jobs/s':>14} {'vs grpcmesh':>12} {'round trip':>11}")
    mesh_rate = statistics.median(rate for rate, _ in table[mesh_row])
    for name, runs in table.items():
        rate = statistics.median(r for r, _ in runs)
        trip = statistics.median(t for _, t in runs)
        ratio = "-" if math.isnan(rate) else f"{rate / mesh_rate:.2f}x"
        print(f"{name:<40} {_per_s(rate):>14} {ratio:>12} {_ms(trip):>11}")


def _per_s(rate: float) -> str:
    return "-" if math.isnan(rate) else f"{rate:,.0f} jobs/s"


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1e3:.2f} ms"


@contextlib.contextmanager
def _redis(peers: list[Peer]) -> Iterator[str | None]:
    """A Redis server of the peers' own, started here (emptied before each of them), or None when no
    peer is wanted or Redis is missing."""
    if not peers:
        yield None
    elif (why := redis_missing()) is not None:
        print(f"no peer comparison: {why}", flush=True)
        yield None
    else:
        with redis_server(appendonly=False) as started:
            yield started


if __name__ == "__main__":
    main()
