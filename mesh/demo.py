"""``mesh demo``: a controller and a few worker processes on this machine, every modifier at work,
and two services: the key-value store and events, each hosted by one worker."""

from __future__ import annotations

import multiprocessing
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import BG, BROADCAST, FG, NO_RETURN, PERIOD, STREAM, Global, callback
from .services import KV, Event, Events, Jobs, KVService
from .services.events import EventLog, serve_events
from .services.jobs import SQLiteJobStore, serve_jobs
from .services.kv import open_backend
from .wire._transport import split_host_port

WORKERS = 3


def _worker(
    name: str, port: int, kv_path: str | None = None, jobs_path: str | None = None, events_path: str | None = None
) -> None:
    """Body of one worker process: offer a few callbacks (and, when given, the kv service over the SQLite
    file ``kv_path``, the jobs service over ``jobs_path``, the events service over a log in folder
    ``events_path``) and serve until told to leave."""
    ticks = 0

    @callback
    def add(a: int, b: int) -> int:
        return a + b

    @callback
    def whoami() -> str:
        return f"{name} (pid {os.getpid()})"

    @callback
    def slow_square(x: int) -> int:
        time.sleep(0.5)
        return x * x

    @callback
    def log(text: str) -> None:
        print(f"  [{name}] log: {text}", flush=True)

    @callback
    def tick() -> None:
        nonlocal ticks
        ticks += 1

    @callback
    def tick_count() -> int:
        return ticks

    @callback
    def leave() -> None:
        threading.Thread(target=g.stop).start()

    g = Global(process_name=name, host="127.0.0.1", port=port)
    closers: list[Callable[[], object]] = []
    if kv_path is not None:
        backend = open_backend(path=kv_path)
        g.register(KVService(backend), prefix="kv")
        closers.append(backend.close)
    if jobs_path is not None:
        store = SQLiteJobStore(jobs_path)
        serve_jobs(g, store)
        closers.append(store.close)
    if events_path is not None:
        closers.append(serve_events(g, EventLog(events_path)).close)
    g.join()
    for close in closers:
        close()


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> int:
    """Run the demo; returns the process exit code."""
    print("grpcmesh demo: a controller and node 'main' here, three worker processes beside it")
    g = Global(process_name="main", init_controller=True, host="127.0.0.1", port=0)
    _, port = split_host_port(g.controller_address)
    context = multiprocessing.get_context("spawn")
    folder = tempfile.TemporaryDirectory(prefix="mesh-demo-")
    kv_path = str(Path(folder.name) / "kv.db")
    jobs_path = str(Path(folder.name) / "jobs.db")
    workers = [
        context.Process(
            target=_worker,
            args=(
                f"worker-{i}",
                port,
                kv_path if i == 1 else None,
                jobs_path if i == 2 else None,
                str(Path(folder.name) / "events") if i == 3 else None,
            ),
        )
        for i in range(1, WORKERS + 1)
    ]
    for process in workers:
        process.start()
    try:
        for i in range(1, WORKERS + 1):
            g.wait_process(f"worker-{i}", timeout=30)
        print(f"controller at {g.controller_address}; members:")
        for member in g.members():
            print(f"  {member['name']:<10} {member['address']:<22} {', '.join(member['callbacks']) or '-'}")

        _step("FG: block for the result")
        print("  add(2, 3) & FG ->", g.call.add(2, 3) & FG)
        print("  whoami().fg(timeout=5) ->", g.call.whoami().fg(timeout=5))

        _step("BG: a future now, the result later")
        started = time.perf_counter()
        futures = [g.call.slow_square(x) & BG(timeout=10) for x in range(6)]
        print("  six slow_square calls sent; results:", [f.get(timeout=10) for f in futures])
        print(f"  took {time.perf_counter() - started:.2f} s for 6 x 0.5 s of work spread over the workers")

        _step("NO_RETURN: fire and forget")
        g.call.log("hello from main") & NO_RETURN
        time.sleep(0.3)

        _step("PERIOD: a schedule kept on the callee")
        task = g.call.tick() & PERIOD(period=0.2)
        time.sleep(1.1)
        task.cancel()
        time.sleep(0.2)
        print(
            "  tick() ran on schedule; count on the callee:",
            max((g.call.tick_count() & BROADCAST(return_result=True)).values()),
        )

        _step("BROADCAST: every node that offers the callback")
        for node, who in sorted((g.call.whoami() & BROADCAST(timeout=5, return_result=True)).items()):
            print(f"  {node}: {who}")

        _step("A service: the key-value store that worker-1 hosts (mesh serve kv runs one alone)")
        g.wait_function("kv.set", timeout=30)
        kv = KV(g)
        kv.set("greeting", {"text": "hello", "from": "main"}) & FG
        print("  kv.set('greeting', {...}) & FG; kv.get('greeting') & FG ->", kv.get("greeting") & FG)
        for _ in range(3):
            kv.incr("visits") & NO_RETURN
        print("  three kv.incr('visits') & NO_RETURN, then kv.incr('visits') & FG ->", kv.incr("visits") & FG)

        _step("Jobs: kept by the jobs service that worker-2 hosts, run by the workers offering slow_square")
        g.wait_function("jobs.submit", timeout=30)
        jobs = Jobs(g)
        ids = [jobs.submit("slow_square", x, retries=2) & FG for x in range(4)]
        print(f"  four jobs.submit('slow_square', x, retries=2) & FG -> ids {', '.join(ids)}")
        print("  jobs.result(id) & FG for each ->", [jobs.result(i) & FG for i in ids])
        status = jobs.status(ids[0]) & FG
        print(f"  jobs.status(ids[0]) & FG -> {status.state}, attempts {status.attempts}, on {status.worker}")

        _step("A service: events that worker-3 hosts (mesh serve events runs one alone)")
        g.wait_function("events.publish", timeout=30)
        ev = Events(g)
        pushed: queue.Queue[Event] = queue.Queue()
        with ev.subscribe("orders.*", pushed.put):
            offsets = [ev.publish(topic, {"order": n}) & FG for n, topic in enumerate(["orders.eu", "orders.us"] * 2)]
            print("  ev.publish(topic, {...}) & FG -> offsets", offsets)
            for _ in offsets:
                event = pushed.get(timeout=10)
                print(f"  pushed to main's handler: {event.topic} offset {event.offset}: {event.payload}")
        print("  ev.read('orders.eu') & STREAM ->", [(e.offset, e.payload) for e in ev.read("orders.eu") & STREAM])

        _step("leaving")
        g.call.leave() & BROADCAST
    finally:
        for process in workers:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)
        g.stop()
        folder.cleanup()
    codes = [p.exitcode for p in workers]
    print(f"workers exited with {codes}; demo done")
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
