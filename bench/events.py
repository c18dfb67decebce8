"""The events service's rates: durable publishes per second and replay per second (issue #22).

    python bench/events.py [--runs 3] [--events 100000] [--publishers 4] [--redis URL]

Each run starts ``mesh serve events`` (SQLite, WAL, fsync on each commit; or Redis Streams at URL,
whose ``mesh:events:*`` keys each run deletes first) in a process of its own
and a controller here, then measures, from other processes:
- ``publish FG``: one publisher, one call at a time (each returns once its event is durable);
- ``publish BG``: ``--publishers`` processes, each with 500 publishes in flight, to one topic;
- ``replay``: ``for event in ev.read(topic) & STREAM`` over everything published.
Prints each run and the medians.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

from mesh import BG, FG, STREAM, Global
from mesh.services import Events

IN_FLIGHT = 500


def _publisher(port: int, count: int, ready: multiprocessing.Barrier, out: multiprocessing.Queue) -> None:
    with Global(host="127.0.0.1", port=port) as g:
        g.wait_function("events.publish", timeout=30)
        ev = Events(g)
        ready.wait()
        started = time.perf_counter()
        for first in range(0, count, IN_FLIGHT):
            pending = [ev.publish("bench", n) & BG for n in range(first, min(first + IN_FLIGHT, count))]
            for result in pending:
                result.get(timeout=120)
        out.put((started, time.perf_counter()))


def one_run(events: int, publishers: int, redis_url: str | None) -> dict[str, float]:
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder, Global("bench", init_controller=True, host="127.0.0.1", port=0) as g:
        port = int(g.controller_address.rsplit(":", 1)[1])
        if redis_url is not None:
            _clear(redis_url)
        where = ["--redis", redis_url] if redis_url is not None else ["--path", folder]
        service = subprocess.Popen(
            [sys.executable, "-m", "mesh", "serve", "events", *where, "--host", "127.0.0.1",
             "--port", str(port), "--name", "events"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            g.wait_function("events.publish", timeout=30)
            ev = Events(g)
            started = time.perf_counter()
            for n in range(2000):
                ev.publish("sequential", n) & FG
            fg = 2000 / (time.perf_counter() - started)
            ready = spawn.Barrier(publishers)
            out = spawn.Queue()
            procs = [
                spawn.Process(target=_publisher, args=(port, events // publishers, ready, out))
                for _ in range(publishers)
            ]
            for proc in procs:
                proc.start()
            spans = [out.get(timeout=600) for _ in procs]
            for proc in procs:
                proc.join(60)
            bg = events // publishers * publishers / (max(e for _, e in spans) - min(s for s, _ in spans))
            started = time.perf_counter()
            replayed = sum(1 for _ in ev.read("bench") & STREAM)
            replay = replayed / (time.perf_counter() - started)
        finally:
            service.terminate()
            service.wait(30)
    return {"publish FG /s": fg, "publish BG /s": bg, "replay /s": replay}


def _clear(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter("mesh:events:*"))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--redis", metavar="URL", help="serve the log from Redis Streams at URL instead of SQLite")
    options = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {options.events} events from {options.publishers} publishers a run", flush=True)
    runs = []
    for number in range(options.runs):
        runs.append(one_run(options.events, options.publishers, options.redis))
        print(f"run {number + 1}: " + ", ".join(f"{k} {v:,.0f}" for k, v in runs[-1].items()), flush=True)
    print("median: " + ", ".join(f"{k} {statistics.median(r[k] for r in runs):,.0f}" for k in runs[0]))


if __name__ == "__main__":
    main()
