"""mesh.plugins over the mesh's services and real servers: the ``mesh`` storage, job and event-bus
plugins with nodes of this process, ``s3`` against moto's S3 server, ``redis`` against a redis-server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh import BadArguments, Global, UnknownCallback, callback
from mesh.plugins import Behavior, EventBusInterface, JobInterface, PluginFactory, StorageInterface, Task, serve_tasks
from mesh.services import Events, Storage
from mesh.services.jobs import SQLiteJobStore, serve_jobs
from mesh.services.storage import LocalBackend, MemoryBackend, serve_storage
from tests._support.job_plugins import check_a_failure_is_kept_and_unknown_ids_raise
from tests._support.proc import free_port
from tests._support.redis_server import RedisServer
from tests._support.s3 import MotoServer
from tests._support.workers import wait_until

pytestmark = pytest.mark.timeout(90)

MiB = 1024 * 1024


def test_mesh_storage_writes_and_reads_through_the_service(
    storage_mesh: Callable[..., tuple[Global, Storage]],
) -> None:
    client, _ = storage_mesh(MemoryBackend())
    store = PluginFactory.get(StorageInterface, "mesh", g=client)
    store.write_file("a/small.bin", b"small")
    big = bytes(range(256)) * (3 * MiB // 256 + 7)  # over one message: sent as a stream
    store.write_file("a/big.bin", big)
    assert store.read_file("a/small.bin") == b"small"
    assert store.read_file("a/big.bin") == big
    with pytest.raises(FileNotFoundError):
        store.read_file("a/missing")


def test_mesh_plugins_need_a_node_outside_a_job() -> None:
    for interface in (StorageInterface, JobInterface, EventBusInterface):
        with pytest.raises(BadArguments, match=r"plugin needs g=<the Global to call the mesh through>"):
            PluginFactory.get(interface, "mesh")


@pytest.mark.usefixtures("s3_credentials")
def test_s3_storage_against_a_real_s3_server(moto: MotoServer) -> None:
    import boto3

    client: Any = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="plugins")
    store = PluginFactory.get(StorageInterface, "s3", bucket="plugins", endpoint=moto.endpoint)
    store.write_file("up/a.bin", b"to s3")
    assert client.get_object(Bucket="plugins", Key="up/a.bin")["Body"].read() == b"to s3"
    assert store.read_file("up/a.bin") == b"to s3"
    with pytest.raises(FileNotFoundError):
        store.read_file("up/missing")
    client.close()


class JobsMesh:
    """A node hosting storage (a folder) and jobs (a SQLite file), a worker node of ``serve_tasks``, a client."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "objects"
        self.host = Global(process_name="services", init_controller=True)
        self.store = SQLiteJobStore(str(tmp_path / "jobs.sqlite"))
        serve_jobs(self.host, self.store)
        serve_storage(self.host, LocalBackend(self.root))
        self.worker = Global(process_name="worker")
        serve_tasks(self.worker)
        self.client = Global(process_name="client")
        self.client.wait_function("plugins.run", timeout=5)
        self.client.wait_function("jobs.submit", timeout=5)

    def close(self) -> None:
        for g in (self.client, self.worker, self.host):
            g.stop()
        self.store.close()


@pytest.fixture
def jobs_mesh(tmp_path: Path) -> Iterator[JobsMesh]:
    made = JobsMesh(tmp_path)
    yield made
    made.close()


def _size_on_the_worker(path: str) -> dict[str, Any]:
    """A task's end, run by the worker: reads the object through the worker's own node (no ``g``)."""
    data = PluginFactory.get(StorageInterface, "mesh").read_file(path)
    return {"path": path, "size": len(data)}


def test_storage_write_then_a_mesh_job_on_the_worker(jobs_mesh: JobsMesh) -> None:
    g = jobs_mesh.client
    task = Task(_size_on_the_worker)
    task.add_behavior(Behavior, plugin="storage_write", backend="mesh", g=g)
    task.add_behavior(Behavior, plugin="schedule_job", job_type="mesh", g=g)
    answer = task.submit(path="up/a.bin", data=b"12345")
    assert answer["scheduled"] is True
    jobs = PluginFactory.get(JobInterface, "mesh", g=g)
    assert jobs.result(answer["job_id"], timeout=20) == {"path": "up/a.bin", "size": 5}
    assert jobs.status(answer["job_id"]) == "done"
    assert (jobs_mesh.root / "up" / "a.bin").read_bytes() == b"12345"


@callback
def plugins_test_double(x: int) -> int:
    return 2 * x


def test_mesh_jobs_schedule_a_callback_by_name_and_keep_failures(jobs_mesh: JobsMesh) -> None:
    jobs = PluginFactory.get(JobInterface, "mesh", g=jobs_mesh.client)
    assert jobs.result(jobs.schedule("plugins_test_double", 21), timeout=20) == 42
    check_a_failure_is_kept_and_unknown_ids_raise(jobs)


def test_a_task_for_the_mesh_without_a_worker_says_to_start_one(tmp_path: Path) -> None:
    store = SQLiteJobStore(str(tmp_path / "jobs.sqlite"))
    with Global(process_name="jobs", init_controller=True) as host:
        serve_jobs(host, store)
        jobs = PluginFactory.get(JobInterface, "mesh", g=host)
        with pytest.raises(UnknownCallback, match=r"'plugins.run' \(no worker node ran mesh.plugins.serve_tasks"):
            jobs.schedule(len, "abc")
    store.close()


def _collect(bus: Any, topic: str) -> tuple[list[Any], Callable[[], None]]:
    got: list[Any] = []
    lock = threading.Lock()

    def handle(payload: Any) -> None:
        with lock:
            got.append(payload)

    return got, bus.subscribe(topic, handle)


def test_mesh_event_bus_delivers_payloads_in_order(events_mesh: Callable[..., tuple[Global, Events]]) -> None:
    client, _ = events_mesh()
    bus = PluginFactory.get(EventBusInterface, "mesh", g=client)
    got, stop = _collect(bus, "uploads.done")
    for n in range(5):
        bus.publish("uploads.done", {"n": n})
    wait_until(lambda: len(got) == 5, 10, "the five events")
    stop()
    assert got == [{"n": n} for n in range(5)]


def test_redis_event_bus_delivers_what_is_published_after_it_subscribed(
    redis_server: Callable[[], RedisServer],
) -> None:
    url = redis_server().url
    bus = PluginFactory.get(EventBusInterface, "redis", url=url)
    bus.publish("uploads", "before")
    got, stop = _collect(bus, "uploads")
    other = PluginFactory.get(EventBusInterface, "redis", url=url)
    for n in range(5):
        other.publish("uploads", ("after", n))
    wait_until(lambda: len(got) == 5, 10, "the five events")
    stop()
    assert got == [("after", n) for n in range(5)]


def test_redis_event_bus_names_a_server_that_does_not_answer() -> None:
    pytest.importorskip("redis", reason="redis-py is missing: pip install 'grpcmesh[redis]'")
    port = free_port()  # nothing listens there
    bus = PluginFactory.get(EventBusInterface, "redis", url=f"redis://127.0.0.1:{port}/0")
    with pytest.raises(ConnectionError, match=rf"the redis event bus at 127.0.0.1:{port}/0 does not answer"):
        bus.publish("uploads", "x")
    with pytest.raises(ConnectionError, match=rf"the redis event bus at 127.0.0.1:{port}/0 does not answer"):
        bus.subscribe("uploads", print)
