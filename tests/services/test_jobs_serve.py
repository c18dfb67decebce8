"""``mesh serve jobs`` in a process of its own, with workers in processes of their own: a worker SIGKILLed
mid-job, the service SIGKILLed and restarted, and 10,000 jobs with a worker killed halfway (3 s here)."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import BG, FG, Global, PeerUnavailable
from mesh.services import Jobs
from tests._support.proc import MESH_COMMAND, Proc, free_port
from tests._support.serve import mesh_serve
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(120)

Spawn = Callable[..., Proc]

WORKER = """
import time
from mesh import Global

def double(x):
    return 2 * x

def slow_double(x, seconds):
    print(f"STARTED {x}", flush=True)
    time.sleep(seconds)
    return 2 * x

g = Global(NAME, host="127.0.0.1", port=PORT)
g.register(double, name="double")
g.register(slow_double, name="slow_double")
print("READY", flush=True)
g.join()
"""


def serve_jobs(spawn: Spawn, port: int, where: Path | str, name: str = "jobs") -> Proc:
    """``mesh serve jobs`` over the SQLite file ``where``, or the Redis server at the URL ``where``."""
    store = ("--redis", where) if isinstance(where, str) else ("--path", str(where))
    return mesh_serve(spawn, "jobs", port, *store, "--concurrency", "8", name=name)


def start_worker(spawn: Spawn, port: int, name: str) -> Proc:
    code = WORKER.replace("NAME", repr(name)).replace("PORT", str(port))
    proc = spawn("-c", code, module="tests._support.run_code")
    proc.wait_line("READY")
    return proc


def serve_with_a_worker(spawn: Spawn, client: tuple[Global, int], tmp_path: Path) -> tuple[Proc, Proc, Jobs]:
    """``mesh serve jobs`` over ``tmp_path / "jobs.sqlite"``, a worker ``w1``, and a client of the service
    from the ``client`` fixture's node once that node sees it."""
    g, port = client
    service = serve_jobs(spawn, port, tmp_path / "jobs.sqlite")
    worker = start_worker(spawn, port, "w1")
    g.wait_function("jobs.submit", timeout=10)
    return service, worker, Jobs(g)


def test_a_worker_sigkilled_mid_job_the_job_runs_again_on_another_and_the_attempt_counts(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path
) -> None:
    g, port = client
    serve_jobs(spawn, port, tmp_path / "jobs.sqlite")
    workers = {name: start_worker(spawn, port, name) for name in ("w1", "w2")}
    g.wait_function("jobs.submit", timeout=10)
    jobs = Jobs(g)
    job_id = jobs.submit("slow_double", 21, 1.0) & FG
    wait_until(lambda: (jobs.status(job_id) & FG).state == "running", 10, "the job to start")
    first = (jobs.status(job_id) & FG).worker
    workers[first].wait_line("STARTED 21")
    workers[first].signal(signal.SIGKILL)
    assert jobs.result(job_id) & FG(timeout=30) == 42
    status = jobs.status(job_id) & FG
    assert (status.state, status.attempts) == ("done", 2)
    assert status.worker == ({"w1", "w2"} - {first}).pop()
    assert status.error is not None and "PeerUnavailable" in status.error


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_service_sigkilled_and_restarted_loses_no_submitted_job_and_runs_the_running_again(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    g, port = client
    path: Path | str = tmp_path / "jobs.sqlite"
    if backend == "redis":
        path = request.getfixturevalue("redis_server")().url
    service = serve_jobs(spawn, port, path)
    workers = [start_worker(spawn, port, "w1"), start_worker(spawn, port, "w2")]
    g.wait_function("jobs.submit", timeout=10)
    jobs = Jobs(g)
    long_one = jobs.submit("slow_double", 99, 2.0) & FG
    wait_until(lambda: any("STARTED 99" in w.text() for w in workers), 10, "the long job to start")
    submitted = [jobs.submit("slow_double", n, 0.05) & BG for n in range(200)]
    ids = {r.get(30): n for n, r in enumerate(submitted)}
    wait_until(lambda: (jobs.statistics() & FG)["jobs"]["done"] >= 20, 30, "some jobs done")
    service.signal(signal.SIGKILL)
    assert service.popen.wait(10) == -signal.SIGKILL
    serve_jobs(spawn, port, path, name="jobs-again")  # the dead node's name may still be in the view
    wait_until(lambda: "jobs" not in {m["name"] for m in g.members()}, 10, "the killed service to leave")
    results = {job_id: jobs.result(job_id) & BG(timeout=60) for job_id in ids}
    assert {job_id: r.get(60) for job_id, r in results.items()} == {job_id: 2 * n for job_id, n in ids.items()}
    assert jobs.result(long_one) & FG(timeout=30) == 198
    assert (jobs.status(long_one) & FG).attempts == 2  # it was running when the service died: run again
    assert len(jobs.list(state="done") & FG) == 201


def test_run_waits_for_no_commit_yet_the_service_sigkilled_after_it_answered_loses_no_job(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path
) -> None:
    g, port = client
    path = tmp_path / "jobs.sqlite"
    service, worker, jobs = serve_with_a_worker(spawn, client, tmp_path)
    running = jobs.run("slow_double", 7, 5.0, key="slow") & BG(timeout=60)
    worker.wait_line("STARTED 7")
    wait_until(lambda: stored_state(path, "slow") == "running", 10, "the running job to reach the disk")
    answered = [jobs.run("double", n, key=f"n{n}") & BG for n in range(100)]
    assert [r.get(30) for r in answered] == [2 * n for n in range(100)]
    service.signal(signal.SIGKILL)  # at once: the ends of the last jobs may not be on disk yet
    assert service.popen.wait(10) == -signal.SIGKILL
    with pytest.raises(PeerUnavailable):
        running.get(30)
    serve_jobs(spawn, port, path, name="jobs-again")
    wait_until(lambda: "jobs" not in {m["name"] for m in g.members()}, 10, "the killed service to leave")
    wait_until(lambda: {s.state for s in jobs.list() & FG} == {"done"}, 30, "the jobs not ended on disk to run again")
    kept = {status.key: status for status in jobs.list() & FG}
    assert kept["slow"].attempts == 2
    assert jobs.result(kept["slow"].id) & FG == 14
    for key, status in kept.items():
        if key != "slow":
            assert jobs.result(status.id) & FG == 2 * int(key[1:])


def test_run_is_answered_by_its_worker_even_while_the_service_is_stopped(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path
) -> None:
    """The worker sends a ``run`` call's value to its caller itself (``FG(answer=...)``): with the service
    SIGSTOPped mid-job, the call still ends, and once resumed the service has the job done."""
    service, worker, jobs = serve_with_a_worker(spawn, client, tmp_path)
    for n in range(3):  # the worker links to this node after its first answer to it
        assert jobs.run("double", n) & FG(timeout=10) == 2 * n
        time.sleep(0.2)
    running = jobs.run("slow_double", 8, 0.2) & BG(timeout=30)  # stopped for less than a keepalive ping (1 s)
    worker.wait_line("STARTED 8")
    service.signal(signal.SIGSTOP)
    try:
        assert running.get(10) == 16
    finally:
        service.signal(signal.SIGCONT)
    # Resumed, the service reads the worker's answer to it, and the client's calls, in either order.
    wait_until(
        lambda: [(s.state, s.attempts) for s in jobs.list(name="slow_double") & FG(timeout=10)] == [("done", 1)],
        10,
        "the service to record the job done, once run",
    )
    done = jobs.list(name="slow_double") & FG(timeout=10)
    assert jobs.result(done[0].id) & FG(timeout=10) == 16


def stored_state(path: Path, key: str) -> str | None:
    """The state of the job of ``key`` in the SQLite job table ``path``, as its file has it now."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT state FROM jobs WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def test_sigterm_stops_the_service_and_a_restart_keeps_the_results(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path
) -> None:
    service, _, jobs = serve_with_a_worker(spawn, client, tmp_path)
    g, port = client
    path = tmp_path / "jobs.sqlite"
    job_id = jobs.submit("double", 4, key="four") & FG
    assert jobs.result(job_id) & FG == 8
    service.signal(signal.SIGTERM)
    assert service.wait_or_dump(15) == 0
    wait_until(lambda: "jobs" not in {m["name"] for m in g.members()}, 10, "the service to leave")
    serve_jobs(spawn, port, path)
    g.wait_function("jobs.submit", timeout=10)
    assert jobs.result(job_id) & FG == 8
    assert jobs.submit("double", 4, key="four") & FG == job_id
    assert (jobs.status(job_id) & FG).state == "done"


def run_mesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESH_COMMAND, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "one of the arguments --path --redis is required"),
        (("--path", "j.sqlite", "--redis", "redis://127.0.0.1:1/0"), 2, "not allowed with argument"),
        (("--path", "j.sqlite", "--concurrency", "0"), 2, "--concurrency must be 1 or more, not 0"),
        (("--path", "/proc/no/such/dir/j.sqlite"), 1, "jobs: the job table /proc/no/such/dir/j.sqlite cannot be"),
    ],
)
def test_bad_options_say_what_is_wrong(args: tuple[str, ...], code: int, message: str) -> None:
    done = run_mesh("serve", "jobs", *args)
    assert done.returncode == code
    assert re.search(message, done.stderr), done.stderr


def test_a_redis_that_does_not_answer_is_named_at_start() -> None:
    pytest.importorskip("redis")
    down = f"127.0.0.1:{free_port()}"
    done = run_mesh("serve", "jobs", "--redis", f"redis://{down}/0")
    assert done.returncode == 1
    assert f"jobs: the store redis {down}/0 does not answer" in done.stderr, done.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_10000_jobs_over_3_workers_one_sigkilled_halfway_all_done_and_correct(
    spawn: Spawn, client: tuple[Global, int], tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    g, port = client
    where: Path | str = tmp_path / "jobs.sqlite"
    if backend == "redis":
        where = request.getfixturevalue("redis_server")().url
    serve_jobs(spawn, port, where)
    workers = [start_worker(spawn, port, f"w{n}") for n in range(3)]
    g.wait_function("jobs.submit", timeout=10)
    jobs = Jobs(g)
    ids: list[str] = []
    for start in range(0, 10_000, 500):
        batch = [jobs.submit("double", n) & BG for n in range(start, start + 500)]
        ids += [r.get(60) for r in batch]
        if start == 5_000:
            workers[0].signal(signal.SIGKILL)
    for start in range(0, 10_000, 500):
        batch = [jobs.result(job_id) & BG(timeout=120) for job_id in ids[start : start + 500]]
        assert [r.get(120) for r in batch] == [2 * n for n in range(start, start + 500)]
    assert (jobs.statistics() & FG)["jobs"]["done"] == 10_000
