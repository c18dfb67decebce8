"""Options of ``python -m mesh.bench`` and ``mesh bench``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence

from ._counts import MESH_GROUPS, PEER_GROUPS, QUICK, Counts, Transport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, shared by ``python -m mesh.bench`` and ``mesh bench``."""
    default = Counts()
    parser.add_argument("--runs", type=int, help=f"runs per transport, for medians (default {default.runs})")
    parser.add_argument("--quick", action="store_true", help="small counts: a rough table in a minute or two")
    parser.add_argument("--calls", type=int, help=f"sequential calls per latency row (default {default.calls})")
    parser.add_argument("--warmup", type=int, help=f"calls before timing (default {default.warmup})")
    parser.add_argument("--stream", type=int, help=f"calls in the pipelined and BG rows (default {default.stream})")
    parser.add_argument("--in-flight", type=int, help=f"BG calls kept in flight (default {default.in_flight})")
    parser.add_argument("--no-return", type=int, help=f"calls in the NO_RETURN row (default {default.no_return})")
    parser.add_argument("--payload-calls", type=int, help=f"1 MiB echoes (default {default.payload_calls})")
    parser.add_argument("--big-calls", type=int, help=f"big echoes (default {default.big_calls})")
    parser.add_argument("--big-mib", type=int, help=f"size of the big echo in MiB (default {default.big_mib})")
    parser.add_argument("--broadcast-calls", type=int, help=f"BROADCAST calls (default {default.broadcast_calls})")
    parser.add_argument(
        "--broadcast-nodes",
        type=int,
        help=f"callee nodes (processes) a BROADCAST reaches (default {default.broadcast_nodes})",
    )
    parser.add_argument(
        "--stream-items",
        type=int,
        help=f"small items in each stream row, STREAM out and stream() in (default {default.stream_items:,})",
    )
    parser.add_argument(
        "--stream-mib",
        type=int,
        help=f"MiB streamed each way in 1 MiB chunks, mesh and raw gRPC (default {default.stream_mib}: 1 GiB)",
    )
    parser.add_argument(
        "--storage-mib",
        type=int,
        help=f"MiB of the storage rows' large object, put and read as a stream (default {default.storage_mib})",
    )
    parser.add_argument(
        "--pipeline-items",
        type=int,
        help=f"small items through the 4-stage pipelines (default {default.pipeline_items:,})",
    )
    parser.add_argument(
        "--pipeline-sink-mib",
        type=int,
        help=f"MiB pushed in 256 KiB items to the pipeline's slow sink (default {default.pipeline_sink_mib})",
    )
    parser.add_argument(
        "--rows",
        default=",".join(MESH_GROUPS + PEER_GROUPS),
        help="comma-separated row groups: " + ", ".join(MESH_GROUPS + PEER_GROUPS) + " (default: all; "
        "the raw gRPC baseline always runs; peer libraries only when installed)",
    )
    parser.add_argument("--transports", default="tcp,unix", help="comma-separated: tcp, unix (default: both)")
    parser.add_argument("--json", metavar="PATH", help="also write every run's numbers as JSON to PATH")


def counts_of(options: argparse.Namespace) -> Counts:
    base = QUICK if options.quick else Counts()
    changes = {
        field.name: getattr(options, field.name)
        for field in dataclasses.fields(Counts)
        if getattr(options, field.name, None) is not None
    }
    counts = dataclasses.replace(base, **changes)
    for field in dataclasses.fields(Counts):
        if getattr(counts, field.name) < (0 if field.name == "warmup" else 1):
            raise SystemExit(f"bench: --{field.name.replace('_', '-')} must be positive")
    return counts


def run(options: argparse.Namespace) -> int:
    """Run the suite as ``options`` say and print the table."""
    from ._malloc import apply as apply_malloc_settings
    from ._pipeline_rows import pipeline_rows
    from ._service_rows import service_rows
    from ._suite import available_peers, run_once
    from ._table import machine, render, rows

    counts = counts_of(options)
    groups = {g.strip().replace("-", "_") for g in options.rows.split(",") if g.strip()}
    unknown = groups - set(MESH_GROUPS + PEER_GROUPS)
    if unknown:
        raise SystemExit(f"bench: unknown row group(s) {sorted(unknown)}; choose from {MESH_GROUPS + PEER_GROUPS}")
    transports = [t.strip() for t in options.transports.split(",") if t.strip()]
    if not transports or set(transports) - {"tcp", "unix"}:
        raise SystemExit(f"bench: --transports takes tcp and/or unix, not {options.transports!r}")
    peers = [p for p in available_peers() if p.lower() in groups]
    # Before the first run's raw rows, so that every run measures the baseline alike.
    apply_malloc_settings()
    print(machine(), flush=True)
    print(f"peer libraries compared: {', '.join(peers) or 'none installed'}; {counts}", flush=True)
    workdir = tempfile.mkdtemp(prefix="grpcmesh-bench-")
    if len(workdir) > 60:
        # UNIX socket paths are limited to about 107 bytes; the sockets go two levels below workdir.
        os.rmdir(workdir)
        workdir = tempfile.mkdtemp(prefix="grpcmesh-bench-", dir="/tmp")
    # The default UNIX sockets of every node (this process's and the children's) go under workdir.
    tempfile.tempdir = os.environ["TMPDIR"] = workdir
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in transports}
    failures: list[str] = []
    try:
        for number in range(counts.runs):
            for name in transports:
                print(f"run {number + 1}/{counts.runs} over {name} ...", file=sys.stderr, flush=True)
                runs[name].append(run_once(Transport.make(name, workdir), counts, groups, failures))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table = rows(counts, peers, [*service_rows(counts), *pipeline_rows(counts)])
    for name in transports:
        print()
        print(render("loopback TCP" if name == "tcp" else "UNIX socket", runs[name], table))
    if failures:
        print()
        print("Peer libraries that failed in a run (their rows are medians of the runs they finished):")
        print("\n".join(f"- {failure}" for failure in failures))
    if options.json:
        with open(options.json, "w") as out:
            report = {"machine": machine(), "counts": dataclasses.asdict(counts), "runs": runs, "failures": failures}
            json.dump(report, out, indent=1)
    return 0


DESCRIPTION = "Benchmark grpcmesh against raw grpc.aio (and daffi 2.2.1, Pyro5, RPyC when installed)."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mesh.bench``."""
    parser = argparse.ArgumentParser(prog="python -m mesh.bench", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))
