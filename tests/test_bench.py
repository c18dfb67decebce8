"""The benchmark suite runs end to end (tiny counts, no timing asserted) from both of its commands."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh.bench._counts import MESH_GROUPS, PEER_GROUPS, Counts
from mesh.bench._proc import ChildFailed, Children
from mesh.bench._suite import peer_rows
from tests._support.proc import MESH_COMMAND, Proc

TINY = [
    "--runs", "1", "--warmup", "2", "--calls", "10", "--stream", "40", "--in-flight", "10", "--no-return", "40",
    "--payload-calls", "2", "--big-calls", "1", "--big-mib", "2", "--broadcast-calls", "3",
    "--stream-items", "40", "--stream-mib", "3",
]  # fmt: skip

# Rows with a ratio to a baseline of the same run.
RATIO_ROWS = [
    "raw grpc.aio echo asked from a sync thread, p50",
    "mesh & FG from sync code, p50",
    "mesh & FG from sync code, p50 (vs sync floor)",
    "mesh & FG from async code, p99",
    "mesh & FG from async code, inline callback, p50",
    "mesh & BG, 1,000 in flight",
    "mesh & BG(timeout=30), 1,000 in flight",
    "mesh & NO_RETURN, until the callee ran all",
    "mesh echo 1 MiB, p50",
    "mesh echo 1 MiB, inline callback, p50",
    "mesh echo 1 MiB from async code, p50",
    "mesh echo 2 MiB, p50",
    "mesh STREAM of small items from a generator (vs BG)",
    "mesh stream(...) argument of small items, in (vs BG)",
    "mesh STREAM of 3 MiB in 1 MiB chunks from a generator",
    "mesh stream(...) argument of 3 MiB in 1 MiB chunks",
    "mesh BROADCAST to 3 nodes, p50 (vs FG)",
    "mesh: process start to first answered call",
]


def _finish(proc: Proc, timeout: float) -> str:
    proc.popen.wait(timeout)
    text = proc.text()
    assert proc.popen.returncode == 0, text
    return text


@pytest.mark.timeout(60)
def test_tiny_run_prints_every_row_with_its_ratio(spawn: Callable[..., Proc]) -> None:
    # Every group but the services' (their own test below: they start redis-server and moto's server)
    # and the pipelines' (their own test below).
    groups = ",".join(group for group in MESH_GROUPS + PEER_GROUPS if group not in ("kv", "storage", "pipeline"))
    text = _finish(spawn(*TINY, "--rows", groups, module="mesh.bench"), 55)
    assert "nproc=" in text and "grpcio" in text
    # The raw echo server checks its allocator settings against this process's, or the run fails.
    assert "malloc: the mesh's settings (mesh/node/_memory.py) in every process" in text
    # gRPC's shared poller must never find a loop of the run closed under it.
    assert "Traceback" not in text and "Event loop is closed" not in text, text
    # A user sees the comparison; the project's targets live in bench/README.md.
    assert "target" not in text and "met" not in text.split(), text
    for transport in ("### loopback TCP", "### UNIX socket"):
        section = text.split(transport, 1)[1].split("###", 1)[0]
        assert "| raw grpc.aio bidi echo, sequential p50 |" in section
        for label in RATIO_ROWS:
            line = next(line for line in section.splitlines() if line.startswith(f"| {label} |"))
            median, ratio = line.split(" | ")[1:3]
            assert median.endswith(("ms", "/s")) and ratio.endswith("x"), line
            assert line.count(" | ") == 3, line
        for label, count in (("CPU per call, ", 10), ("CPU per item, ", 4), ("of which garbage collection, ", 14)):
            rows = [line for line in section.splitlines() if line.startswith(f"|   {label}")]
            assert len(rows) == count and all(line.split(" | ")[1].endswith(" us") for line in rows), section
        # Under each of the four 3 MiB streams (raw gRPC's two, the mesh's two), both processes' peak RSS.
        rss = [line for line in section.splitlines() if line.startswith("|   peak RSS over idle, ")]
        assert len(rss) == 8 and all(line.split(" | ")[1].endswith(" MiB") for line in rss), section


@pytest.mark.timeout(60)
def test_mesh_bench_runs_chosen_rows_on_one_transport(tmp_path: object) -> None:
    done = subprocess.run(
        [MESH_COMMAND, "bench", *TINY, "--rows", "fg", "--transports", "unix"],
        capture_output=True,
        text=True,
        timeout=55,
        env={**os.environ, "MESH_MALLOC_TUNING": "0"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "malloc: the C library's defaults in every process" in done.stdout
    assert "### UNIX socket" in done.stdout and "loopback TCP" not in done.stdout
    assert "mesh & FG from sync code, p50" in done.stdout
    assert "BROADCAST" not in done.stdout


@pytest.mark.timeout(90)
def test_broadcast_row_reaches_the_chosen_number_of_nodes() -> None:
    done = subprocess.run(
        [MESH_COMMAND, "bench", *TINY, "--rows", "broadcast", "--broadcast-nodes", "6", "--transports", "tcp"],
        capture_output=True,
        text=True,
        timeout=85,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(
        line for line in done.stdout.splitlines() if line.startswith("| mesh BROADCAST to 6 nodes, p50 (vs FG) |")
    )
    median, ratio, baseline = row.split(" | ")[1:4]
    assert median.endswith("ms") and ratio.endswith("x") and baseline.strip(" |") == "mesh FG sync p50"


def _bench_rows(timeout: float, *options: str) -> tuple[subprocess.CompletedProcess[str], Callable[[str], list[str]]]:
    """Run ``mesh bench`` tiny with ``options``; its output, and the cells of the row that a label names."""
    done = subprocess.run([MESH_COMMAND, "bench", *TINY, *options], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()

    def cells(label: str) -> list[str]:
        line = next((line for line in lines if line.startswith(f"| {label} |")), None)
        assert line is not None, f"no row {label!r} in:\n{done.stdout}"
        return [cell.strip() for cell in line.strip("| ").split(" | ")]

    return done, cells


def _number(cell: str) -> float:
    return float(cell.split()[0].replace(",", "").rstrip("/sx"))


@pytest.mark.timeout(60)
def test_stream_rows_run_alone_against_raw_grpc_streams_and_bg_of_the_same_run() -> None:
    done, cells = _bench_rows(55, "--rows", "stream", "--transports", "tcp")

    # The BG row runs too (the small items' baseline), but no other mesh row.
    assert _number(cells("mesh & BG, 1,000 in flight")[1]) > 0
    assert "NO_RETURN" not in done.stdout and "BROADCAST" not in done.stdout and "mesh echo" not in done.stdout
    for label in (
        "mesh STREAM of small items from a generator (vs BG)",
        "mesh stream(...) argument of small items, in (vs BG)",
    ):
        _, median, ratio, baseline = cells(label)
        assert median.endswith("/s") and _number(median) > 0 and _number(ratio) > 0 and baseline == "mesh BG"
    for direction in ("server to client", "client to server"):
        _, median, ratio, baseline = cells(f"raw grpc.aio stream of 3 MiB in 1 MiB chunks, {direction}")
        assert median.endswith(" MiB/s") and _number(median) > 0 and (ratio, baseline) == ("1.00x", "(baseline)")
    for label, raw in (
        ("mesh STREAM of 3 MiB in 1 MiB chunks from a generator", "raw stream out"),
        ("mesh stream(...) argument of 3 MiB in 1 MiB chunks", "raw stream in"),
    ):
        _, median, ratio, baseline = cells(label)
        assert median.endswith(" MiB/s") and _number(median) > 0 and _number(ratio) > 0 and baseline == raw
    rss = [line for line in done.stdout.splitlines() if line.startswith("|   peak RSS over idle, ")]
    assert len(rss) == 8, done.stdout
    # A peak over idle is at least nothing, and (for 3 MiB through) far below a GiB.
    assert all(0 <= _number(line.split(" | ")[1]) < 1024 for line in rss), done.stdout


@pytest.mark.timeout(30)
def test_bad_options_are_named(spawn: Callable[..., Proc]) -> None:
    proc = spawn("--rows", "fg,warp", module="mesh.bench")
    proc.popen.wait(25)
    assert proc.popen.returncode != 0
    assert "unknown row group(s) ['warp']" in proc.text()


@pytest.mark.timeout(30)
def test_a_failing_peer_library_is_left_out_of_the_run_with_its_error() -> None:
    # A peer whose module cannot run: its callee exits before READY with Python's own error.
    failures: list[str] = []
    assert peer_rows("Absent", Counts(), failures) == {}
    assert len(failures) == 1
    assert failures[0].startswith("Absent: ") and failures[0].endswith("No module named mesh.bench._peer_absent")


@pytest.mark.timeout(30)
def test_a_child_that_exits_early_fails_with_its_last_line() -> None:
    with Children() as children:
        child = children.start("json.tool", "/nonexistent/input.json")
        with pytest.raises(ChildFailed, match="exited with 2") as failed:
            child.wait_line("READY", timeout=20)
    assert "No such file or directory" in failed.value.last_line


@pytest.mark.timeout(120)
def test_service_rows_run_against_their_backends_used_directly_in_the_same_run() -> None:
    done, cells = _bench_rows(110, "--rows", "kv,storage", "--storage-mib", "3", "--transports", "tcp")

    # The mesh's BG row runs too (kv's BG rows are read against it), but no other mesh row.
    assert _number(cells("mesh & BG, 1,000 in flight")[1]) > 0
    assert "NO_RETURN" not in done.stdout and "BROADCAST" not in done.stdout and "STREAM of small" not in done.stdout
    backends = [("SQLite", "sqlite3")]
    if shutil.which("redis-server") is not None:
        backends.append(("Redis", "redis-py"))
    else:
        assert "bench: the kv rows on Redis are left out: redis-server is not on PATH" in done.stdout
    for name, client in backends:
        for label, baseline in (
            (f"kv.set & FG on {name}, p50", f"{client} set p50"),
            (f"kv.get & FG on {name}, p50", "mesh FG echo p50"),
            (f"kv.get & FG on {name}, p50 (vs {client})", f"{client} get p50"),
            (f"kv.set & BG on {name}, 10 in flight (vs mesh BG)", "mesh BG"),
        ):
            _, median, ratio, against = cells(label)
            assert median.endswith(("ms", "/s")) and _number(median) > 0 and _number(ratio) > 0, label
            assert against == baseline, label
        for verb in ("set", "get"):
            _, median, ratio, against = cells(f"kv.{verb} & BG on {name}, 10 in flight")
            assert median.endswith("/s") and _number(median) > 0 and _number(ratio) > 0
            assert against.startswith(f"{client} {verb} ")
            _, median, ratio, against = cells(f"kv.{verb}_many of 100 & BG on {name}, 10 keys in flight")
            assert median.endswith("/s") and _number(median) > 0 and _number(ratio) > 0
            assert against.startswith(f"{client} {verb} ")
    stores = [("a local directory", "file")]
    if importlib.util.find_spec("boto3") is not None and importlib.util.find_spec("moto") is not None:
        stores.append(("S3 (moto)", "boto3"))
    else:
        assert "bench: the storage rows on S3 are left out: " in done.stdout
    # Each store twice: as a client takes it by default, and through the mesh only.
    ways = [(f"{name}{how}", direct) for name, direct in stores for how in ("", ", through the mesh only")]
    for name, direct in ways:
        for label, baseline in (
            (f"storage.put & FG of 1 MiB to {name}, p50", f"{direct} put 1 MiB p50"),
            (f"storage.get & FG of 1 MiB from {name}, p50", f"{direct} get 1 MiB p50"),
            (f"storage.put of 3 MiB as stream(...) of 1 MiB chunks to {name}", f"{direct} put 3 MiB"),
            (f"storage.get_stream of 3 MiB & STREAM from {name}", f"{direct} get 3 MiB"),
        ):
            _, median, ratio, against = cells(label)
            assert median.endswith(("ms", "MiB/s")) and _number(median) > 0 and _number(ratio) > 0, label
            assert against == baseline, label
    # Under each large put and get, the caller's and the service's peak RSS: at least nothing, far below a GiB.
    rss = [line for line in done.stdout.splitlines() if line.startswith("|   peak RSS over idle, ")]
    assert len(rss) == 4 * len(ways), done.stdout
    assert all(0 <= _number(line.split(" | ")[1]) < 1024 for line in rss), done.stdout


@pytest.mark.timeout(90)
def test_pipeline_rows_run_against_the_seed_style_pipeline_of_the_same_run() -> None:
    options = ("--rows", "pipeline", "--pipeline-items", "300", "--pipeline-sink-mib", "2", "--transports", "tcp")
    done, cells = _bench_rows(85, *options)

    assert "mesh & BG" not in done.stdout and "STREAM of small" not in done.stdout
    _, median, ratio, baseline = cells("seed-style pipeline: 4 coroutines joined by asyncio.Queue, 300 small items")
    assert median.endswith("/s") and (ratio, baseline) == ("1.00x", "(baseline)")
    for label in (
        "Plumber: the same 4 stages in one process (anyio streams)",
        "Plumber: the same 4 stages across 3 processes (2 on other nodes, direct between them)",
    ):
        _, median, ratio, baseline = cells(label)
        assert median.endswith("/s") and _number(median) > 0 and _number(ratio) > 0 and baseline == "seed"
    _, median, _, _ = cells("Plumber: 2 MiB in 256 KiB items via another node to a slow sink on a third")
    assert median.endswith(" MiB/s") and _number(median) > 0
    rss = [line for line in done.stdout.splitlines() if line.startswith("|   peak RSS over idle, ")]
    assert len(rss) == 3 and all(0 <= _number(line.split(" | ")[1]) < 1024 for line in rss), done.stdout


BENCH_SCRIPTS = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_services_bench_scripts_run_and_compare_with_redis() -> None:
    """bench/events.py and bench/jobs.py, tiny, print their medians; with a redis-server here, the events
    script prints its ratios to redis-py's in the same run."""
    events = subprocess.run(
        [sys.executable, str(BENCH_SCRIPTS / "events.py"), "--runs", "1", "--events", "400", "--publishers", "2",
         "--batch", "50"],
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    assert events.returncode == 0, events.stderr
    for row in ("publish FG", "publish BG", "publish_many by 50", "replay"):
        assert f"  {row} " in events.stdout, events.stdout
    if shutil.which("redis-server") and importlib.util.find_spec("redis"):
        assert "publish_many by 50 / XADD pipelined by 50: " in events.stdout, events.stdout
        assert "replay / XRANGE replay: " in events.stdout, events.stdout
    jobs = subprocess.run(
        [sys.executable, str(BENCH_SCRIPTS / "jobs.py"), "--runs", "1", "--jobs", "100", "--peers", ""],
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    assert jobs.returncode == 0, jobs.stderr
    assert "grpcmesh jobs (SQLite synchronous=FULL)" in jobs.stdout.split("medians of 1 runs")[1], jobs.stdout
