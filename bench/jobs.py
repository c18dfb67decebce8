"""The jobs service, submit to done: ``python bench/jobs.py [--jobs 5000] [--workers 3] [--runs 3] [--redis URL]``.

Starts a controller, ``mesh serve jobs --path`` (SQLite in a temporary folder; with ``--redis URL``, that
Redis server, whose namespace ``mesh:jobs:`` is emptied before each run) and ``--workers`` worker
processes offering a trivial ``double(x)``, all on loopback, and from this process (the client node):

- jobs/s: ``--jobs`` submissions with 1,000 in flight (``& BG``), from the first submit until every
  result is in (each ``result`` is asked as soon as its submit returned);
- one job's round trip: ``submit & FG`` then ``result & FG``, sequential, the median of 200.

A fresh job table each run; the medians over ``--runs`` are printed last.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mesh import BG, FG, Global
from mesh.services import Jobs

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


def one_run(jobs_count: int, workers: int, folder: Path, redis_url: str | None) -> tuple[float, float]:
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
            trips = []
            for n in range(200):
                t = time.perf_counter()
                jobs.result(jobs.submit("double", n) & FG) & FG
                trips.append(time.perf_counter() - t)
            return rate, statistics.median(trips)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", metavar="URL", help="keep the jobs in this Redis server instead of SQLite")
    options = parser.parse_args()
    rates, trips = [], []
    for run in range(options.runs):
        if options.redis is not None:
            import redis

            redis.Redis.from_url(options.redis).delete("mesh:jobs:jobs", "mesh:jobs:schedules")
        with tempfile.TemporaryDirectory() as folder:
            rate, trip = one_run(options.jobs, options.workers, Path(folder), options.redis)
        rates.append(rate)
        trips.append(trip)
        print(f"run {run + 1}: {rate:,.0f} jobs/s submit to done, one job's round trip {trip * 1e3:.2f} ms", flush=True)
    store = "SQLite synchronous=FULL" if options.redis is None else "Redis"
    print(
        f"median of {options.runs}: {statistics.median(rates):,.0f} jobs/s ({options.jobs} jobs, {options.workers} "
        f"workers, {store}), round trip {statistics.median(trips) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
