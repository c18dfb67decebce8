"""The kv service over SQLite and over Redis, hosted by one node of this process and called from
another: every operation with every modifier, watches, expiry, group commit, and the errors of bad input."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mesh import BG, FG, NO_RETURN, STREAM, CallTimeout, Global, MeshError, SerializationError, UsageError
from mesh.services import KV, Change, KVService
from mesh.services.kv import open_backend
from tests._support.workers import wait_until
from tests.services.conftest import HostedKV

pytestmark = pytest.mark.timeout(60)


@dataclass
class Point:
    x: int
    y: int


def test_a_value_comes_back_as_it_was_set_with_every_modifier(hosted: HostedKV) -> None:
    kv = hosted.kv
    kv.set("dict", {"a": [1, 2.5, None]}) & FG
    assert (kv.set("point", Point(1, 2)) & BG).get(timeout=10) is None
    kv.set("bytes", bytes(range(256)) * 4096) & NO_RETURN
    kv.set("lambda", lambda n: n * 3) & FG  # only dill writes it
    wait_until(lambda: "bytes" in kv.keys() & FG, 10, "the NO_RETURN write")
    assert kv.get("dict") & FG == {"a": [1, 2.5, None]}
    assert kv.get("point") & FG == Point(1, 2)
    assert kv.get("bytes") & FG == bytes(range(256)) * 4096
    assert (kv.get("lambda") & FG)(4) == 12
    assert (kv.get("dict") & BG).get(timeout=10) == {"a": [1, 2.5, None]}
    kv.set("dict", "replaced") & FG
    assert kv.get("dict") & FG == "replaced"


def test_a_missing_key_raises_key_error_on_the_caller_unless_a_default_is_given(hosted: HostedKV) -> None:
    with pytest.raises(KeyError) as caught:
        hosted.kv.get("absent") & FG
    assert caught.value.args == ("absent",)
    assert hosted.kv.get("absent", None) & FG is None
    assert hosted.kv.get("absent", default=0) & FG == 0


def test_delete_says_whether_the_key_was_there_and_keys_lists_a_prefix_sorted(hosted: HostedKV) -> None:
    kv = hosted.kv
    for key in ("user:2", "user:1", "users", "user\U0010ffff", "item:1", ""):
        kv.set(key, key) & FG
    assert kv.keys("user:") & FG == ["user:1", "user:2"]
    assert kv.keys("user") & FG == ["user:1", "user:2", "users", "user\U0010ffff"]
    assert kv.keys() & FG == ["", "item:1", "user:1", "user:2", "users", "user\U0010ffff"]
    assert kv.delete("user:1") & FG is True
    assert kv.delete("user:1") & FG is False
    assert kv.keys("user:") & FG == ["user:2"]
    with pytest.raises(KeyError):
        kv.get("user:1") & FG


def test_incr_adds_atomically_and_refuses_a_value_that_is_not_an_int(hosted: HostedKV) -> None:
    kv = hosted.kv
    assert kv.incr("hits") & FG == 1
    assert kv.incr("hits", 41) & FG == 42
    results = [kv.incr("hits", -1) & BG for _ in range(200)]
    assert sorted(r.get(timeout=10) for r in results) == list(range(-158, 42))
    assert kv.get("hits") & FG == -158
    kv.set("name", "ada") & FG
    with pytest.raises(TypeError, match="value of 'name' is a str, not an int"):
        kv.incr("name") & FG
    assert kv.get("name") & FG == "ada"


def test_cas_swaps_only_when_the_value_is_the_expected_one(hosted: HostedKV) -> None:
    kv = hosted.kv
    assert kv.cas("lock", None, "me") & FG is True  # a missing key equals None
    assert kv.cas("lock", None, "you") & FG is False
    assert kv.cas("lock", "me", "you") & FG is True
    assert kv.get("lock") & FG == "you"
    kv.set("config", {"v": 1}) & FG
    assert kv.cas("config", {"v": 1}, {"v": 2}) & FG is True
    assert kv.get("config") & FG == {"v": 2}
    # Many callers race for one swap: exactly one wins.
    kv.set("token", 0) & FG
    attempts = [kv.cas("token", 0, n) & BG for n in range(1, 51)]
    assert sum(a.get(timeout=10) for a in attempts) == 1


def test_a_key_set_with_a_ttl_is_gone_after_it(hosted: HostedKV) -> None:
    kv = hosted.kv
    kv.set("short", 1, ttl=1.0) & FG
    set_at = time.monotonic()
    kv.set("long", 2) & FG
    assert kv.get("short") & FG == 1
    assert kv.incr("short") & FG == 2  # incr keeps the ttl
    time.sleep(max(0.0, set_at + 1.3 - time.monotonic()))
    assert kv.get("short", "gone") & FG == "gone"
    assert kv.keys() & FG == ["long"]
    assert kv.delete("short") & FG is False
    assert kv.incr("short") & FG == 1  # an expired key counts as missing


def test_watch_streams_the_changes_under_its_prefix_in_order(hosted: HostedKV) -> None:
    kv = hosted.kv
    with kv.watch("a") & STREAM as changes:
        kv.set("a1", 1) & FG
        kv.set("b1", 1) & FG
        kv.incr("a2") & FG
        kv.cas("a1", 1, 10) & FG
        kv.delete("a1") & FG
        kv.set_many({"a4": 4, "b2": 2, "a5": 5}) & FG
        kv.set_many([("a6", 6)], ttl=60) & FG
        kv.set("a3", "last") & FG
        seen = []
        for change in changes:
            seen.append(change)
            if change.key == "a3":
                break
    assert seen == [
        Change("a1", 1),
        Change("a2", 1),
        Change("a1", 10),
        Change("a1", deleted=True),
        Change("a4", 4),
        Change("a5", 5),
        Change("a6", 6),
        Change("a3", "last"),
    ]


def test_a_watch_that_falls_too_far_behind_ends_with_overflow_after_the_changes_before(hosted: HostedKV) -> None:
    hosted.backend.watchers.limit = 20  # type: ignore[attr-defined]
    kv = hosted.kv
    changes = kv.watch("n") & STREAM(window=4)
    for n in range(200):
        kv.set("n", n) & FG
    values = []
    with pytest.raises(OverflowError, match="fell more than 20 changes behind"):
        for change in changes:
            values.append(change.value)
    assert values == list(range(len(values)))
    assert 20 <= len(values) < 200


def test_a_flood_of_writes_shares_commits_and_every_write_lands(hosted: HostedKV) -> None:
    kv, set_call = hosted.kv, hosted.client.call.kv.set  # the calls themselves: no client pipeline
    for n in range(3000):
        set_call(f"k{n:04}", n) & NO_RETURN
    set_call("end", True) & FG
    wait_until(lambda: len(kv.keys("k") & FG) == 3000, 30, "3000 NO_RETURN writes")
    assert [kv.get(f"k{n:04}") & FG for n in range(0, 3000, 299)] == list(range(0, 3000, 299))
    stats = hosted.backend.statistics()  # type: ignore[attr-defined]
    assert stats["writes"] >= 3001
    assert stats["commits"] < stats["writes"] / 2


def test_a_clients_bg_sets_go_together_each_with_its_own_result(hosted: HostedKV) -> None:
    kv = hosted.kv
    results = [kv.set(f"p{n:04}", n) & BG for n in range(5000)]
    for n in range(2000):
        kv.set(f"q{n:04}", n, ttl=60 if n >= 1000 else None) & NO_RETURN
    assert [result.get(30) for result in results] == [None] * 5000
    assert kv.get_many([f"p{n:04}" for n in range(5000)]) & FG == {f"p{n:04}": n for n in range(5000)}
    assert kv.get_many([f"q{n:04}" for n in range(2000)]) & FG == {f"q{n:04}": n for n in range(2000)}
    stats = hosted.backend.statistics()  # type: ignore[attr-defined]
    assert stats["writes"] < 7000 / 5  # the backend's writes: one a batch of the pipeline
    # A value that cannot be pickled fails its own set at once; the sets around it land.
    before = kv.set("r1", 1) & BG
    with pytest.raises(SerializationError, match=r"the value of key 'bad' \(generator\) cannot be pickled"):
        kv.set("bad", (n for n in range(3))) & BG
    after = kv.set("r2", 2) & BG
    before.get(10)
    after.get(10)
    assert kv.get_many(["r1", "bad", "r2"]) & FG == {"r1": 1, "r2": 2}


def test_each_threads_pipelined_sets_keep_their_order_while_other_threads_flush(hosted: HostedKV) -> None:
    kv = hosted.kv

    def writer(name: str) -> None:
        results = []
        for n in range(1500):
            results.append(kv.set(name, n) & BG)
            if n % 97 == 0:
                kv.get(name, None) & FG  # sends what waits, from this thread, while others add
        for result in results:
            result.get(30)

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert kv.get_many([f"t{n}" for n in range(4)]) & FG == {f"t{n}": 1499 for n in range(4)}


def test_pipelined_sets_whose_service_goes_away_fail_and_none_hangs(tmp_path: Path) -> None:
    hosted = HostedKV(open_backend(path=str(tmp_path / "kv.db")), "gone")
    try:
        kv = hosted.kv
        kv.set("warm", 1) & FG
        results = [kv.set(f"g{n}", n) & BG for n in range(3000)]
        hosted.host.stop()
        outcomes = []
        for result in results:
            try:
                outcomes.append(result.get(20))
            except MeshError as exc:
                assert not isinstance(exc, CallTimeout)
                outcomes.append(type(exc))
        assert len(outcomes) == 3000  # each done or failed, none left waiting
    finally:
        hosted.close()


@contextlib.asynccontextmanager
async def async_kv(tmp_path: Path, offered: str) -> AsyncIterator[KV]:
    """A kv service on a node of this async program, and a client on another, once ``offered`` is."""
    backend = open_backend(path=str(tmp_path / "kv.db"))
    try:
        async with Global("async-host", init_controller=True) as host, Global("async-client") as client:
            host.register(KVService(backend), prefix="kv")
            await client.wait_function(offered, timeout=10)
            yield KV(client)
    finally:
        backend.close()


def test_a_pipelined_sets_result_is_awaited_in_async_code(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with async_kv(tmp_path, "kv.set_encoded") as kv:
            results = [kv.set(f"a{n}", n) & BG for n in range(300)]
            assert [await result for result in results] == [None] * 300
            assert await results[0].get_async(5) is None
            assert results[0].get() is None  # done: nothing to wait for
            pending = kv.set("late", 1) & BG
            with pytest.raises(UsageError, match="would block the event loop"):
                pending.get()
            await pending
            assert await kv.get_many(["a0", "a299"]) & FG == {"a0": 0, "a299": 299}

    asyncio.run(scenario())


def test_writes_apply_in_the_order_they_reach_the_service(hosted: HostedKV) -> None:
    kv = hosted.kv
    for n in range(500):
        kv.set("x", n) & NO_RETURN
        if n % 100 == 50:
            kv.incr("x", 1000) & NO_RETURN
            kv.delete("x") & BG
    kv.set("barrier", True) & FG  # after every write before it, as they came on one link
    assert kv.get("x") & FG == 499


def test_set_many_writes_every_pair_in_order_and_get_many_reads_them_back(hosted: HostedKV) -> None:
    kv = hosted.kv
    assert kv.set_many({"m:a": 1, "m:b": [2], "m:c": {"c": 3}}) & FG is None
    kv.set_many([("m:d", 4), ("m:a", 5), ("m:d", 6)]) & BG  # a key twice: the later pair wins
    assert (kv.set_many((("m:e", None),), ttl=60) & BG).get(10) is None
    kv.set_many((f"m:n{n:04}", n) for n in range(2000)) & NO_RETURN
    assert kv.get_many(["m:a", "m:b", "m:c", "m:d", "m:e", "m:zz"]) & FG == {
        "m:a": 5, "m:b": [2], "m:c": {"c": 3}, "m:d": 6, "m:e": None,
    }  # fmt: skip
    assert kv.get_many(("m:a", "m:zz"), default=0) & FG == {"m:a": 5, "m:zz": 0}
    assert kv.get_many([]) & FG == {}
    wait_until(lambda: kv.get("m:n1999", None) & FG == 1999, 10, "the NO_RETURN set_many")
    assert kv.get_many([f"m:n{n:04}" for n in range(2000)]) & FG == {f"m:n{n:04}": n for n in range(2000)}


def test_set_many_and_get_many_refuse_bad_input_with_an_error_that_names_it(hosted: HostedKV) -> None:
    kv = hosted.kv
    with pytest.raises(SerializationError, match="cannot be pickled"):
        kv.set_many({"good": 1, "bad": (n for n in range(3))}) & FG
    assert kv.get_many(["good", "bad"]) & FG == {}
    with pytest.raises(UsageError, match="set_many takes a dict or \\(key, value\\) pairs, not 'ab'"):
        kv.set_many(["ab"])  # type: ignore[list-item]
    with pytest.raises(UsageError, match="kv keys are str, not int"):
        kv.set_many({1: "one"})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="kv keys are a list, not str"):
        kv.get_many("abc")
    with pytest.raises(UsageError, match="kv keys are str, not int"):
        kv.get_many(["a", 2])  # type: ignore[list-item]


def test_bad_input_fails_with_an_error_that_names_it(hosted: HostedKV) -> None:
    kv = hosted.kv
    with pytest.raises(UsageError, match="kv keys are str, not int"):
        kv.get(5)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="ttl is a positive number"):
        kv.set("a", 1, ttl=-1)
    with pytest.raises(UsageError, match="incr adds an int"):
        kv.incr("a", 1.5)  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="cannot be pickled"):
        kv.set("gen", (n for n in range(3))) & FG
    # The service checks what reaches it another way too, and the caller gets its own error type.
    with pytest.raises(UsageError, match="kv keys are str, not bytes"):
        hosted.client.call.kv.get(b"raw") & FG
    with pytest.raises(SerializationError, match=r"kv.watch\('a'\) streams its changes: call it with & STREAM"):
        kv.watch("a") & FG
    assert kv.keys() & FG == []


def test_only_the_hosting_node_offers_the_kv_callbacks(hosted: HostedKV) -> None:
    members = {m["name"]: m["callbacks"] for m in hosted.client.members()}
    kind = hosted.backend.name.split()[0]
    offered = {"kv.cas", "kv.delete", "kv.get", "kv.get_many", "kv.incr", "kv.keys", "kv.set", "kv.set_many"}
    offered.add("kv.watch")
    assert offered <= set(members[f"{kind}-host"])
    assert not [name for name in members[f"{kind}-client"] if name.startswith("kv.")]


def test_the_client_works_from_async_code(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with async_kv(tmp_path, "kv.set") as kv:
            watched = kv.watch("x") & STREAM
            await (kv.set("x", [1]) & FG)
            assert await (kv.get("x") & FG) == [1]
            assert await (kv.incr("xn") & FG) == 1
            async for change in watched:
                assert change == Change("x", [1])
                break

    asyncio.run(scenario())


def test_a_kv_service_under_another_prefix_is_called_by_a_client_of_that_prefix(tmp_path: Path) -> None:
    backend = open_backend(path=str(tmp_path / "other.db"))
    try:
        with Global("prefixed", init_controller=True) as g:
            g.register(KVService(backend), prefix="cache.kv")
            kv = KV(g, prefix="cache.kv")
            kv.set("a", 1) & FG
            assert kv.get("a") & FG == 1
            for wrong in ("", "cache..kv", "kv.", "k-v"):
                with pytest.raises(UsageError, match="KV prefix is a dotted name"):
                    KV(g, prefix=wrong)
    finally:
        backend.close()


def test_a_sqlite_path_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot open the SQLite file .*missing/kv\.db"):
        open_backend(path=str(tmp_path / "missing" / "kv.db"))
    with pytest.raises(UsageError, match="give one"):
        open_backend()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of this test's own; skipped where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_fails_the_write_with_an_error_naming_the_file_and_keeps_the_keys_before(
    small_disk: Path,
) -> None:
    path = small_disk / "kv.db"
    service = HostedKV(open_backend(path=str(path)), "full")
    try:
        kv = service.kv
        kv.set("kept", "before") & FG
        with pytest.raises(OSError, match=rf"sqlite {re.escape(str(path))} could not commit: .*full"):
            for n in range(100):
                kv.set(f"big{n}", os.urandom(64 * 1024)) & FG
        assert kv.get("kept") & FG == "before"
        written = kv.keys("big") & FG
        assert f"big{len(written)}" not in written
        assert all(len(kv.get(key) & FG) == 64 * 1024 for key in written)
        # One set_many is one transaction: it lands whole or not at all.
        with pytest.raises(OSError, match="could not commit"):
            kv.set_many({f"many{n}": os.urandom(64 * 1024) for n in range(20)}) & FG
        assert kv.keys("many") & FG == []
    finally:
        service.close()


def test_one_backend_serves_one_node_and_a_second_is_told_so(tmp_path: Path) -> None:
    backend = open_backend(path=str(tmp_path / "kv.db"))
    try:
        with Global("first", init_controller=True) as first, Global("second") as second:
            first.register(KVService(backend), prefix="kv")
            second.register(KVService(backend), prefix="again")
            first.wait_function("again.set", timeout=5)
            KV(first).set("a", 1) & FG
            with pytest.raises(UsageError, match="open a backend for each node"):
                KV(first, prefix="again").set("a", 2) & FG
            assert KV(first).get("a") & FG == 1
    finally:
        backend.close()
