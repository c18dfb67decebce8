"""The events service's rates against Redis Streams used directly (issue #22).

    python bench/events.py [--runs 3] [--events 100000] [--publishers 4] [--batch 100] [--redis URL]

Each run starts ``mesh serve events`` (SQLite, WAL, fsync on each commit; or Redis Streams at URL,
whose ``mesh:events:*`` keys each run deletes first) in a process of its own and a controller here,
then measures, from other processes:
- ``publish FG``: one publisher, one call at a time (each returns once its event is durable);
- ``publish BG``: ``--publishers`` processes, each with 500 publishes in flight, to one topic;
- ``publish_many``: the same processes, ``--batch`` events a call, 10 calls in flight each;
- ``replay``: ``for event in ev.read(topic) & STREAM`` over everything published.
Then, in the same run, the same counts with redis-py against a redis-server this script starts
(``appendonly everysec``; the server at URL with ``--redis``): XADD from the same number of processes
pipelined by ``--batch`` and unpipelined, and XRANGE replay by 1,000. Prints each run, the medians,
and the mesh's rates as ratios of Redis's.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from _redis_server import redis_server

from mesh import BG, FG, STREAM, Global
from mesh.bench._kv import redis_missing
from mesh.services import Events

IN_FLIGHT = 500
CALLS_IN_FLIGHT = 10


def _mesh_publisher(port: int, count: int, batch: int, ready: Any, out: Any) -> None:
    with Global(host="127.0.0.1", port=port) as g:
        g.wait_function("events.publish", timeout=30)
        ev = Events(g)
        ready.wait()
        started = time.perf_counter()
        if batch == 1:
            for first in range(0, count, IN_FLIGHT):
                pending = [ev.publish("bench", n) & BG for n in range(first, min(first + IN_FLIGHT, count))]
                for result in pending:
                    result.get(timeout=120)
        else:
            step = batch * CALLS_IN_FLIGHT
            for first in range(0, count, step):
                pending = [
                    ev.publish_many("many", range(at, min(at + batch, count))) & BG
                    for at in range(first, min(first + step, count), batch)
                ]
                for result in pending:
                    result.get(timeout=120)
        out.put((started, time.perf_counter()))


def _redis_publisher(url: str, count: int, batch: int, ready: Any, out: Any) -> None:
    import redis

    client = redis.Redis.from_url(url)
    payload = {"d": b"x" * 8}
    ready.wait()
    started = time.perf_counter()
    if batch == 1:
        for _ in range(count):
            client.xadd("bench:one", payload)
    else:
        for first in range(0, count, batch):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(batch, count - first)):
                pipe.xadd("bench:many", payload)
            pipe.execute()
    out.put((started, time.perf_counter()))


def _publishers_rate(target: Callable[..., None], args: tuple[Any, ...], count: int, publishers: int) -> float:
    """Events per second from ``publishers`` processes running ``target(*args, count, ready, out)``."""
    spawn = multiprocessing.get_context("spawn")
    ready, out = spawn.Barrier(publishers), spawn.Queue()
    procs = [spawn.Process(target=target, args=(*args, count // publishers, ready, out)) for _ in range(publishers)]
    for proc in procs:
        proc.start()
    spans = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(60)
    return count // publishers * publishers / (max(e for _, e in spans) - min(s for s, _ in spans))


@contextlib.contextmanager
def _events_service(port: int, redis_url: str | None) -> Iterator[None]:
    with tempfile.TemporaryDirectory() as folder:
        if redis_url is not None:
            _clear(redis_url, "mesh:events:*")
        where = ["--redis", redis_url] if redis_url is not None else ["--path", folder]
        service = subprocess.Popen(
            [sys.executable, "-m", "mesh", "serve", "events", *where, "--host", "127.0.0.1",
             "--port", str(port), "--name", "events"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield
        finally:
            service.terminate()
            service.wait(30)


def mesh_run(events: int, publishers: int, batch: int, redis_url: str | None) -> dict[str, float]:
    with Global("bench", init_controller=True, host="127.0.0.1", port=0) as g:
        port = int(g.controller_address.rsplit(":", 1)[1])
        with _events_service(port, redis_url):
            g.wait_function("events.publish", timeout=30)
            ev = Events(g)
            started = time.perf_counter()
            for n in range(2000):
                ev.publish("sequential", n) & FG
            fg = 2000 / (time.perf_counter() - started)
            bg = _publishers_rate(_Batched(_mesh_publisher, 1), (port,), events, publishers)
            many = _publishers_rate(_Batched(_mesh_publisher, batch), (port,), events, publishers)
            started = time.perf_counter()
            replayed = sum(1 for _ in ev.read("many") & STREAM)
            replay = replayed / (time.perf_counter() - started)
    return {"publish FG": fg, "publish BG": bg, f"publish_many by {batch}": many, "replay": replay}


class _Batched:
    """``publisher(*args, count, batch, ready, out)`` with ``batch`` fixed; picklable for spawn."""

    def __init__(self, publisher: Callable[..., None], batch: int) -> None:
        self.publisher, self.batch = publisher, batch

    def __call__(self, *args: Any) -> None:
        *head, count, ready, out = args
        self.publisher(*head, count, self.batch, ready, out)


def redis_run(url: str, events: int, publishers: int, batch: int) -> dict[str, float]:
    import redis

    _clear(url, "bench:*")
    piped = _publishers_rate(_Batched(_redis_publisher, batch), (url,), events, publishers)
    single = _publishers_rate(_Batched(_redis_publisher, 1), (url,), events, publishers)
    client = redis.Redis.from_url(url)
    started, replayed, after = time.perf_counter(), 0, "-"
    while entries := client.xrange("bench:many", min=after, count=1000):
        replayed += len(entries)
        after = "(" + entries[-1][0].decode()
    replay = replayed / (time.perf_counter() - started)
    _clear(url, "bench:*")
    return {f"XADD pipelined by {batch}": piped, "XADD": single, "XRANGE replay": replay}


def _clear(url: str, pattern: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(pattern))
    if keys:
        client.delete(*keys)
    client.close()


@contextlib.contextmanager
def _redis(url: str | None) -> Iterator[str | None]:
    if url is not None:
        yield url
    elif (why := redis_missing()) is not None:
        print(f"no Redis comparison: {why}", flush=True)
        yield None
    else:
        with redis_server() as started:
            yield started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100, help="events a publish_many call (and a Redis pipeline)")
    parser.add_argument("--redis", metavar="URL", help="serve the log from Redis Streams at URL instead of SQLite")
    options = parser.parse_args()
    store = "SQLite, fsync each commit" if options.redis is None else "Redis Streams"
    print(f"{os.cpu_count()} CPUs; {options.events:,} events from {options.publishers} publishers a run; "
          f"the service on {store}", flush=True)  # fmt: skip
    runs: list[dict[str, float]] = []
    with _redis(options.redis) as url:
        for number in range(options.runs):
            run = mesh_run(options.events, options.publishers, options.batch, options.redis)
            if url is not None:
                run |= redis_run(url, options.events, options.publishers, options.batch)
            runs.append(run)
            print(f"run {number + 1}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in run.items()), flush=True)
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print("\nmedians (events/s):")
    for key, value in median.items():
        print(f"  {key:<24} {value:>12,.0f}")
    if url is not None:
        batch = options.batch
        for mine, theirs in ((f"publish_many by {batch}", f"XADD pipelined by {batch}"), ("publish BG", "XADD"),
                             ("replay", "XRANGE replay")):  # fmt: skip
            print(f"  {mine} / {theirs}: {median[mine] / median[theirs]:.2f}x")


if __name__ == "__main__":
    main()
