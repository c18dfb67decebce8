"""Several kv service nodes over one Redis: the same data from each, a watch that sees every node's
writes, calls that go to another node when one dies, and the error of a Redis that is down."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh import BG, FG, STREAM, Global, PeerUnavailable
from mesh.services import KV, Change
from mesh.services.kv import open_backend
from mesh.services.kv.backends._redis import RedisBackend
from tests._support.proc import Proc, free_port
from tests._support.redis_server import RedisServer
from tests._support.workers import wait_until
from tests.services.conftest import HostedKV
from tests.services.test_kv_processes import serve_kv, wait_offered

pytestmark = pytest.mark.timeout(120)

Spawn = Callable[..., Proc]
StartRedis = Callable[[], RedisServer]


def test_every_service_node_serves_the_same_data_and_watches_see_every_nodes_writes(
    spawn: Spawn, controller: Callable[[], tuple[Proc, int]], redis_server: StartRedis
) -> None:
    _, port = controller()
    url = redis_server().url
    for name in ("kv-a", "kv-b"):
        serve_kv(spawn, port, name, "--redis", url)
    with Global("user", host="127.0.0.1", port=port) as g:
        for name in ("kv-a", "kv-b"):
            wait_offered(g, name)
        kv = KV(g)
        with kv.watch("doc:") & STREAM(receiver="kv-b") as changes:
            # A call to kv-b that returns after the watch call reached it: the watch is open.
            assert kv.keys("doc:") & FG(receiver="kv-b") == []
            kv.set("doc:1", {"title": "a"}) & FG(receiver="kv-a")
            assert kv.get("doc:1") & FG(receiver="kv-b") == {"title": "a"}
            assert kv.incr("doc:n") & FG(receiver="kv-a") == 1
            assert kv.incr("doc:n") & FG(receiver="kv-b") == 2
            assert kv.keys("doc:") & FG(receiver="kv-b") == ["doc:1", "doc:n"]
            assert kv.delete("doc:1") & FG(receiver="kv-b") is True
            items = iter(changes)
            seen = [next(items) for _ in range(4)]
        assert seen == [
            Change("doc:1", {"title": "a"}),
            Change("doc:n", 1),
            Change("doc:n", 2),
            Change("doc:1", deleted=True),
        ]
        # Many writers on both nodes: incr stays atomic across them.
        results = [kv.incr("count") & FG(receiver=("kv-a", "kv-b")[n % 2]) for n in range(100)]
        assert sorted(results) == list(range(1, 101))


def test_when_a_service_node_dies_calls_go_to_another_and_no_acknowledged_write_is_lost(
    spawn: Spawn, controller: Callable[[], tuple[Proc, int]], redis_server: StartRedis
) -> None:
    _, port = controller()
    url = redis_server().url
    first = serve_kv(spawn, port, "kv-a", "--redis", url)
    serve_kv(spawn, port, "kv-b", "--redis", url)
    acked: list[list[int]] = [[] for _ in range(4)]
    failures: list[BaseException] = []
    killed = threading.Event()
    with Global("writer", host="127.0.0.1", port=port) as g:
        for name in ("kv-a", "kv-b"):
            wait_offered(g, name)
        kv = KV(g)

        def write(writer: int) -> None:
            for n in range(300):
                while True:
                    try:
                        kv.set(f"w{writer}:{n}", n) & FG
                        break
                    except PeerUnavailable as exc:  # the call reached kv-a as it died: set again
                        failures.append(exc)
                acked[writer].append(n)
                if writer == 0 and n == 100:
                    first.signal(signal.SIGKILL)
                    killed.set()

        threads = [threading.Thread(target=write, args=(w,)) for w in range(len(acked))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        assert killed.is_set()
        assert not any(thread.is_alive() for thread in threads)
        assert [len(ns) for ns in acked] == [300] * len(acked)
        stored = set(kv.keys("w") & FG)
        assert [f"w{w}:{n}" for w in range(len(acked)) for n in range(300) if f"w{w}:{n}" not in stored] == []
        assert kv.get("w3:299") & FG == 299
        wait_until(lambda: "kv-a" not in {m["name"] for m in g.members()}, 10, "kv-a gone from the view")
        assert kv.get("w0:0") & FG == 0  # the one provider left serves it


def test_a_redis_that_is_down_is_named_with_its_address(redis_server: StartRedis, tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(ConnectionError, match=rf"redis 127\.0\.0\.1:{port}/0 does not answer"):
        open_backend(redis=f"redis://127.0.0.1:{port}/0")
    server = redis_server()
    hosted = HostedKV(open_backend(redis=server.url), "redis-down")
    try:
        hosted.kv.set("a", 1) & FG
        server.stop()
        with pytest.raises(ConnectionError, match=rf"redis 127\.0\.0\.1:{server.port}/0 does not answer"):
            hosted.kv.get("a") & FG
        # A server back on the same port: the next calls connect again (no data: it had no persistence).
        again = RedisServer(tmp_path / "again", port=server.port)
        try:
            hosted.kv.set("b", 2) & FG
            assert hosted.kv.get("b") & FG == 2
            assert hosted.kv.get_many(["a", "b"]) & FG == {"b": 2}
            again.stop()
            again = RedisServer(tmp_path / "third", port=server.port)
            # The reads' connection went with the last server: the read tries once more, on a new one.
            assert hosted.kv.get("b", "gone") & FG == "gone"
        finally:
            again.stop()
    finally:
        hosted.close()


def test_mesh_serve_kv_with_a_redis_that_is_down_says_so(spawn: Spawn) -> None:
    port = free_port()
    proc = spawn("serve", "kv", "--redis", f"redis://127.0.0.1:{port}/0", module="mesh")
    assert proc.wait_or_dump(30) == 1
    assert f"redis 127.0.0.1:{port}/0 does not answer" in proc.text()


def test_a_watch_ends_with_an_error_when_its_redis_goes_away(redis_server: StartRedis) -> None:
    server = redis_server()
    hosted = HostedKV(open_backend(redis=server.url), "redis-watch")
    try:
        with hosted.kv.watch() & STREAM as changes:
            hosted.kv.set("a", 1) & FG
            items = iter(changes)
            assert next(items) == Change("a", 1)
            server.stop()
            with pytest.raises(ConnectionError, match="lost its subscription"):
                next(items)
    finally:
        hosted.close()


def test_reads_that_come_together_share_round_trips_and_each_gets_its_own_value(redis_server: StartRedis) -> None:
    hosted = HostedKV(open_backend(redis=redis_server().url), "redis-reads")
    try:
        kv = hosted.kv
        for n in range(200):
            kv.set(f"k{n}", n) & FG
        pending = [kv.get(f"k{n % 200}") & BG for n in range(2000)]
        assert [result.get(10) for result in pending] == [n % 200 for n in range(2000)]
        stats = hosted.backend.statistics()  # type: ignore[attr-defined]
        assert stats["reads"] >= 2000
        assert stats["read_trips"] < stats["reads"] / 2
    finally:
        hosted.close()


def test_a_redis_that_keeps_silent_fails_the_read_after_the_answer_timeout(redis_server: StartRedis) -> None:
    server = redis_server()
    hosted = HostedKV(RedisBackend(server.url, answer_timeout=1.0), "redis-silent")
    try:
        hosted.kv.set("a", 1) & FG
        assert hosted.kv.get("a") & FG == 1
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            silent = rf"redis 127\.0\.0\.1:{server.port}/0 does not answer within 1 s"
            with pytest.raises(ConnectionError, match=silent):
                hosted.kv.get("a") & FG
            assert time.monotonic() - started < 5.0  # the timeout and the watchdog's second, not more
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert hosted.kv.get("a") & FG == 1  # a new connection, once it answers again
    finally:
        hosted.close()
