"""The jobs service in one process: a node hosting it, worker nodes offering callbacks, a client node.

What runs in other processes (a worker or the service SIGKILLed) is in test_jobs_serve.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh import BG, FG, NO_RETURN, CallCancelled, CallTimeout, Global, SerializationError, UnknownCallback, UsageError
from mesh.services import Jobs
from mesh.services.jobs import JOB_ID, JobStatus, SQLiteJobStore, open_store, serve_jobs
from tests._support.redis_server import RedisServer
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(60)


class Flaky(Exception):
    pass


def add(a: int, b: int) -> int:
    return a + b


def boom(message: str) -> None:
    raise Flaky(message)


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("this object refuses to be pickled")


def unpicklable_result() -> Any:
    return Unpicklable()


def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


@pytest.fixture(params=["sqlite", "redis"])
def jobs_mesh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., tuple[Global, Jobs]]]:
    """``make(*workers)``: a node ``jobs`` hosting the service over a SQLite file in ``tmp_path`` or a
    redis-server of the test's own, a node per worker (a dict of callbacks by name, each ``w1``, ``w2``...),
    and ``(client, Jobs(client))``; all stopped at teardown."""
    nodes: list[Global] = []
    if request.param == "sqlite":
        store = open_store(path=str(tmp_path / "jobs.sqlite"))
    else:
        start: Callable[[], RedisServer] = request.getfixturevalue("redis_server")
        store = open_store(redis=start().url)

    def make(*workers: dict[str, Callable[..., Any]], concurrency: int = 16) -> tuple[Global, Jobs]:
        host = Global(process_name="jobs", init_controller=True)
        nodes.append(host)
        for number, callbacks in enumerate(workers, 1):
            worker = Global(process_name=f"w{number}")
            nodes.append(worker)
            for name, fn in callbacks.items():
                worker.register(fn, name=name)
        serve_jobs(host, store, concurrency=concurrency)
        client = Global(process_name="client")
        nodes.append(client)
        client.wait_function("jobs.submit", timeout=5)
        for callbacks in workers:
            for name in callbacks:
                client.wait_function(name, timeout=5)
        return client, Jobs(client)

    yield make
    for node in reversed(nodes):
        node.stop()
    store.close()


def test_a_job_runs_on_a_worker_and_its_result_and_status_are_kept(jobs_mesh: Callable[..., Any]) -> None:
    _, jobs = jobs_mesh({"add": add})
    job_id = jobs.submit("add", 2, b=3) & FG
    assert isinstance(job_id, str)
    assert jobs.result(job_id) & FG == 5
    status = jobs.status(job_id) & FG
    assert isinstance(status, JobStatus)
    assert (status.state, status.attempts, status.error, status.worker) == ("done", 1, None, "w1")
    assert status.finished is not None and status.started is not None


def test_a_job_that_raises_is_retried_then_failed_with_its_last_error_as_its_own_type(
    jobs_mesh: Callable[..., Any],
) -> None:
    _, jobs = jobs_mesh({"boom": boom})
    job_id = jobs.submit("boom", "no luck", retries=2, backoff=0.05) & FG
    with pytest.raises(Flaky, match="no luck"):
        jobs.result(job_id) & FG
    status = jobs.status(job_id) & FG
    assert (status.state, status.attempts, status.error) == ("failed", 3, "Flaky: no luck")
    assert [s.id for s in jobs.list(state="failed") & FG] == [job_id]


def test_a_job_that_succeeds_on_a_retry_is_done(jobs_mesh: Callable[..., Any]) -> None:
    calls: list[int] = []

    def second_time_lucky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise Flaky("first")
        return "ok"

    _, jobs = jobs_mesh({"lucky": second_time_lucky})
    job_id = jobs.submit("lucky", retries=1, backoff=0) & FG
    assert jobs.result(job_id) & FG == "ok"
    status = jobs.status(job_id) & FG
    assert (status.state, status.attempts, status.error) == ("done", 2, "Flaky: first")


def test_a_job_over_its_timeout_fails_with_call_timeout(jobs_mesh: Callable[..., Any]) -> None:
    _, jobs = jobs_mesh({"sleepy": sleepy})
    job_id = jobs.submit("sleepy", 1.5, timeout=0.2) & FG
    with pytest.raises(CallTimeout):
        jobs.result(job_id) & FG(timeout=10)
    assert (jobs.status(job_id) & FG).state == "failed"


def test_a_result_that_cannot_be_pickled_fails_the_job(jobs_mesh: Callable[..., Any]) -> None:
    _, jobs = jobs_mesh({"lock": unpicklable_result})
    job_id = jobs.submit("lock") & FG
    with pytest.raises(SerializationError):
        jobs.result(job_id) & FG(timeout=10)
    assert "SerializationError" in str((jobs.status(job_id) & FG).error)


def test_bad_submissions_say_what_is_wrong(jobs_mesh: Callable[..., Any]) -> None:
    _, jobs = jobs_mesh({"add": add})
    with pytest.raises(UnknownCallback, match=r"'ad' \(the workers offer: [^)]*\badd\b.*\); did you mean 'add'"):
        jobs.submit("ad", 1, 2) & FG
    with pytest.raises(SerializationError, match="cannot be pickled"):
        jobs.submit("add", Unpicklable(), 1) & FG
    with pytest.raises(UsageError, match="retries must be an int"):
        jobs.submit("add", 1, 2, retries=-1)
    with pytest.raises(UsageError, match="timeout must be more than 0"):
        jobs.submit("add", 1, 2, timeout=0)
    with pytest.raises(UsageError, match="eta must be a number of seconds"):
        jobs.submit("add", 1, 2, eta="soon")
    with pytest.raises(KeyError, match="no job 'nope'"):
        jobs.status("nope") & FG
    assert jobs.list() & FG == []


def test_submit_many_keeps_a_job_for_each_argument_tuple_and_results_gives_their_values(
    jobs_mesh: Callable[..., Any],
) -> None:
    _, jobs = jobs_mesh({"add": add, "boom": boom})
    ids = jobs.submit_many("add", [(n, n) for n in range(50)]) & FG
    assert len(set(ids)) == 50
    assert jobs.results(ids) & FG == [2 * n for n in range(50)]
    assert [s.id for s in jobs.list(name="add") & FG] == ids
    assert jobs.submit_many("add", []) & FG == []
    assert jobs.results([]) & FG == []
    failing = jobs.submit_many("boom", [("first",), ("second",)]) & FG
    with pytest.raises(Flaky, match="first"):
        jobs.results(failing) & FG
    with pytest.raises(UnknownCallback, match=r"'ad' \(the workers offer: "):
        jobs.submit_many("ad", [(1, 2)]) & FG
    with pytest.raises(SerializationError, match="cannot be pickled"):
        jobs.submit_many("add", [(1, 2), (Unpicklable(), 1)]) & FG
    assert len(jobs.list(name="add") & FG) == 50, "a batch with an argument that cannot be kept keeps no job"
    with pytest.raises(UsageError, match="submit_many takes an iterable of argument tuples"):
        jobs.submit_many("add", [1, 2])
    with pytest.raises(KeyError, match="no job 'nope'"):
        jobs.results([ids[0], "nope"]) & FG


def test_run_submits_a_job_and_gives_its_value_in_one_call(jobs_mesh: Callable[..., Any]) -> None:
    _, jobs = jobs_mesh({"add": add, "boom": boom, "sleepy": sleepy})
    assert jobs.run("add", 2, b=3) & FG == 5
    assert [s.state for s in jobs.list(name="add") & FG] == ["done"]
    with pytest.raises(Flaky, match="twice"):
        jobs.run("boom", "twice", retries=1, backoff=0) & FG
    assert (jobs.list(name="boom") & FG)[0].attempts == 2
    with pytest.raises(CallTimeout):
        jobs.run("sleepy", 0.5) & FG(timeout=0.1)
    wait_until(
        lambda: [s.state for s in jobs.list(name="sleepy") & FG] == ["done"], 10, "the job to go on after the timeout"
    )
    with pytest.raises(UnknownCallback, match=r"'ad' \(the workers offer: "):
        jobs.run("ad", 1) & FG


def test_the_same_key_makes_one_job(jobs_mesh: Callable[..., Any]) -> None:
    _, jobs = jobs_mesh({"add": add})
    first = jobs.submit("add", 1, 1, key="order-7") & FG
    again = [jobs.submit("add", 1, 1, key="order-7") & BG for _ in range(5)]
    assert {r.get(10) for r in again} == {first}
    assert len(jobs.list(name="add") & FG) == 1


def test_a_queued_job_cancelled_never_runs_and_a_running_one_is_stopped(jobs_mesh: Callable[..., Any]) -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def hold(tag: str) -> None:
        ran.append(tag)
        started.set()
        release.wait(30)  # a sync callback's thread cannot be interrupted: the test lets it go at the end

    _, jobs = jobs_mesh({"hold": hold}, concurrency=1)
    running = jobs.submit("hold", "first") & FG
    assert started.wait(10)
    queued = jobs.submit("hold", "second") & FG
    assert (jobs.cancel(queued) & FG).state == "cancelled"
    assert (jobs.cancel(running) & FG).state == "cancelled"
    with pytest.raises(CallCancelled, match=f"job {running}"):
        jobs.result(running) & FG
    with pytest.raises(CallCancelled):
        jobs.result(queued) & FG
    assert ran == ["first"]
    assert (jobs.status(running) & FG).attempts == 1
    release.set()


def test_result_with_a_timeout_raises_timeout_error(jobs_mesh: Callable[..., Any]) -> None:
    _, jobs = jobs_mesh({"sleepy": sleepy})
    job_id = jobs.submit("sleepy", 1) & FG
    with pytest.raises(TimeoutError, match=r"is still running after 0\.1 s"):
        jobs.result(job_id, timeout=0.1) & FG
    assert jobs.result(job_id) & FG == "slept"


def test_eta_holds_a_job_back(jobs_mesh: Callable[..., Any]) -> None:
    _, jobs = jobs_mesh({"add": add})
    before = time.time()
    job_id = jobs.submit("add", 1, 2, eta=0.5) & FG
    assert (jobs.status(job_id) & FG).state == "queued"
    assert jobs.result(job_id) & FG == 3
    status = jobs.status(job_id) & FG
    assert status.started is not None and status.started >= before + 0.5


def test_progress_reported_from_inside_a_job_shows_in_its_status(jobs_mesh: Callable[..., Any]) -> None:
    go_on = threading.Event()

    def crunch(job_id: str, g: Global) -> str:
        Jobs(g).progress(job_id, {"done": 1, "of": 2}) & NO_RETURN
        go_on.wait(10)
        return "crunched"

    _, jobs = jobs_mesh({"crunch": crunch})
    job_id = jobs.submit("crunch", JOB_ID) & FG
    wait_until(lambda: (jobs.status(job_id) & FG).progress == {"done": 1, "of": 2}, 10, "the progress")
    go_on.set()
    assert jobs.result(job_id) & FG == "crunched"


def test_jobs_go_to_the_least_loaded_worker_within_its_limit(jobs_mesh: Callable[..., Any]) -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()

    def tracked(g: Global) -> str:
        with lock:
            active[g.process_name] = active.get(g.process_name, 0) + 1
            peak[g.process_name] = max(peak.get(g.process_name, 0), active[g.process_name])
        time.sleep(0.05)
        with lock:
            active[g.process_name] -= 1
        return g.process_name

    _, jobs = jobs_mesh({"tracked": tracked}, {"tracked": tracked}, concurrency=2)
    ids = [jobs.submit("tracked") & BG for _ in range(20)]
    ran_on = [jobs.result(r.get(10)) & FG(timeout=30) for r in ids]
    assert sorted(set(ran_on)) == ["w1", "w2"]
    assert 8 <= ran_on.count("w1") <= 12
    assert peak == {"w1": 2, "w2": 2}


def test_a_job_every_interval_and_on_a_cron_expression(jobs_mesh: Callable[..., Any]) -> None:
    pytest.importorskip("croniter")
    ticks: list[str] = []

    def tick(tag: str) -> None:
        ticks.append(tag)

    _, jobs = jobs_mesh({"tick": tick})
    every = jobs.schedule("tick", "every", every=0.2) & FG
    cron = jobs.schedule("tick", "cron", cron="* * * * * *") & FG  # each second (six fields: seconds last)
    wait_until(lambda: ticks.count("every") >= 4 and ticks.count("cron") >= 2, 10, "the scheduled jobs")
    assert set(jobs.schedules() & FG) == {every, cron}
    jobs.unschedule(every) & FG
    jobs.unschedule(cron) & FG
    time.sleep(0.3)
    count = len(ticks)
    time.sleep(1.2)
    assert len(ticks) == count
    with pytest.raises(UsageError, match="cron expression 'often' is not valid"):
        jobs.schedule("tick", "x", cron="often")
    with pytest.raises(UsageError, match=r"one of every= .* or cron="):
        jobs.schedule("tick", "x")


def test_submit_waits_a_moment_for_a_worker_that_is_just_registering_the_callback(
    jobs_mesh: Callable[..., Any],
) -> None:
    client, jobs = jobs_mesh({"add": add})
    timer = threading.Timer(0.3, lambda: client.register(add, name="late_add"))
    timer.start()
    try:
        job_id = jobs.submit("late_add", 1, 2) & FG
        same_key = [jobs.submit("late_add2", 1, 2, key="once") & BG for _ in range(3)]
        client.register(add, name="late_add2")
        assert len({r.get(10) for r in same_key}) == 1  # one job, though all three waited for the worker
    finally:
        timer.join()
    assert jobs.result(job_id) & FG == 3
    assert (jobs.status(job_id) & FG).worker == "client"
    assert len(jobs.list(name="late_add2") & FG) == 1


def test_a_schedule_survives_a_restart_of_the_service(tmp_path: Path) -> None:
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(time.time())

    path = str(tmp_path / "jobs.sqlite")
    controller = Global(init_node=False, init_controller=True)
    worker = Global("w1")
    client = Global("client")
    host = Global("jobs-1")
    store = open_store(path=path)
    try:
        worker.register(tick, name="tick")
        serve_jobs(host, store)
        client.wait_function("jobs.schedule", timeout=5)
        client.wait_function("tick", timeout=5)
        schedule_id = Jobs(client).schedule("tick", every=0.2) & FG
        wait_until(lambda: len(ticks) >= 2, 10, "two ticks")
        host.stop()
        store.close()
        before = len(ticks)
        host = Global("jobs-2")
        store = open_store(path=path)
        serve_jobs(host, store)
        wait_until(lambda: len(ticks) >= before + 2, 10, "the schedule to go on after the restart")
        assert list(Jobs(client).schedules() & FG(receiver="jobs-2")) == [schedule_id]
    finally:
        for node in (host, client, worker, controller):
            node.stop()
        store.close()


def test_serve_jobs_in_async_code_runs_in_a_thread(tmp_path: Path) -> None:
    store = open_store(path=str(tmp_path / "jobs.sqlite"))

    async def scenario() -> Any:
        async with Global("jobs-async", init_controller=True) as g:
            g.register(add, name="add")
            with pytest.raises(UsageError, match=r"await asyncio\.to_thread\(serve_jobs, g, store\)"):
                serve_jobs(g, store)
            await asyncio.to_thread(serve_jobs, g, store)
            jobs = Jobs(g)
            job_id = await (jobs.submit("add", 20, 22) & FG)
            return await (jobs.result(job_id) & FG)

    try:
        assert asyncio.run(scenario()) == 42
    finally:
        store.close()


class GatedStore(SQLiteJobStore):
    """A SQLite job table whose commits wait until ``gate`` is set: what a slow disk does to them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()

    def _commit(self, jobs: list[tuple[Any, ...]], schedules: dict[str, bytes | None]) -> None:
        self.gate.wait(30)
        super()._commit(jobs, schedules)


def test_run_answers_before_its_job_is_committed_and_submit_only_after(tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "jobs.sqlite")
    host = Global(process_name="jobs", init_controller=True)
    worker = Global(process_name="w1")
    client = Global(process_name="client")
    try:
        worker.register(add, name="add")
        serve_jobs(host, store)
        client.wait_function("jobs.run", timeout=5)
        client.wait_function("add", timeout=5)
        jobs = Jobs(client)
        assert jobs.run("add", 2, b=3) & FG(timeout=20) == 5  # no commit could be made so far
        submitted = jobs.submit("add", 1, b=1) & BG
        with pytest.raises(CallTimeout):
            submitted.get(0.5)  # submit answers only once its job is on disk
        store.gate.set()
        assert jobs.result(submitted.get(20)) & FG == 2
    finally:
        store.gate.set()
        for node in (client, worker, host):
            node.stop()
        store.close()
    kept = open_store(path=str(tmp_path / "jobs.sqlite"))
    try:
        assert sorted((job.state, job.outcome) for job in kept.jobs()) == [("done", 2), ("done", 5)]
    finally:
        kept.close()
