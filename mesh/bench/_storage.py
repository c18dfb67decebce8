"""The storage rows: ``put`` and ``get`` of 1 MiB, and ``counts.storage_mib`` MiB put as a
``stream(...)`` of 1 MiB chunks and read with ``get_stream`` (STREAM), with the peak RSS of the
caller and of the service's node, on a local directory and on S3 (moto's server, when boto3 and
moto are installed), against the same done directly (``_storage_direct``). Each is measured twice:
as a client takes it by default (around the mesh's data path where it can: an open file on this
machine, a presigned URL on S3), and through the mesh only (``Storage(g, direct=False)``, the
``_streamed`` rows: what a client on another machine gets)."""

from __future__ import annotations

import functools
import importlib.util
import os
import time
from collections.abc import Iterator

from mesh import FG, STREAM, stream
from mesh.services import Storage

from . import _storage_direct
from ._context import Context, prefixed, skipped, wait_port
from ._counts import free_port
from ._rss import PeakRss, rss_rows
from ._stats import percentile, timed

# moto's server takes any credentials; the service's node and this process give the same.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "bench"


def measure(context: Context) -> dict[str, float]:
    """Every storage row of one run: the local directory's, then S3's (or a printed reason why not)."""
    results = prefixed("st_local", _storage_direct.file_rows(context.folder, context.counts))
    root = os.path.join(context.folder, "root")
    service = context.serve("storage", "storage", "--root", root)
    results.update(_both_paths(context, "storage", "st_local", service.popen.pid))
    missing = [name for name in ("boto3", "moto") if importlib.util.find_spec(name) is None]
    if missing:
        names = " and ".join(missing)
        skipped(f"the storage rows on S3 are left out: {names} not installed (pip install boto3 'moto[server]')")
        return results
    endpoint = _start_moto(context)
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        client.create_bucket(Bucket=BUCKET)
        results.update(prefixed("st_s3", _storage_direct.s3_rows(client, BUCKET, context.counts)))
    finally:
        client.close()
    service = context.serve("storage", "storage_s3", "--s3", f"{endpoint}/{BUCKET}", env=CREDENTIALS)
    results.update(_both_paths(context, "storage_s3", "st_s3", service.popen.pid))
    return results


def _both_paths(context: Context, prefix: str, key: str, pid: int) -> dict[str, float]:
    """The rows of the storage service under ``prefix`` (its node: the process ``pid``) as a client takes
    it by default (``key``) and through the mesh only (``key_streamed``). The 1 MiB calls of the two
    alternate, one each in turn, so that the disk's and the machine's moods weigh on both alike."""
    clients = {key: Storage(context.g, prefix), f"{key}_streamed": Storage(context.g, prefix, direct=False)}
    results = _small_rows(context, clients)
    for measured, st in clients.items():
        results.update(_big_rows(context, st, measured, pid))
    return results


def _small_rows(context: Context, clients: dict[str, Storage]) -> dict[str, float]:
    """p50 of ``put`` and ``get`` of 1 MiB & FG through each client, alternating."""
    counts = context.counts
    data = b"\x01" * counts.mib
    samples: dict[str, list[float]] = {}
    for key, st in clients.items():
        st.put("small", data) & FG
        if len(st.get("small") & FG) != counts.mib:
            raise RuntimeError(f"{key}: get of 1 MiB came back with another size")
    for _ in range(counts.payload_calls):
        for key, st in clients.items():
            samples.setdefault(f"{key}_put_1mib_p50", []).extend(timed(functools.partial(_put, st, data), 1))
            samples.setdefault(f"{key}_get_1mib_p50", []).extend(timed(functools.partial(_get, st), 1))
    return {row: percentile(times, 50) for row, times in samples.items()}


def _put(st: Storage, data: bytes) -> None:
    st.put("small", data) & FG


def _get(st: Storage) -> None:
    st.get("small") & FG


def _big_rows(context: Context, st: Storage, key: str, pid: int) -> dict[str, float]:
    """The rows of ``storage_mib`` MiB through ``st``, with the peak RSS of this process and of ``pid``."""
    counts, prefix = context.counts, key
    data, total = b"\x01" * counts.mib, counts.storage_bytes
    results: dict[str, float] = {}

    def chunks() -> Iterator[bytes]:
        for _ in range(counts.storage_mib):
            yield data

    pids = (os.getpid(), pid)
    with PeakRss(pids) as peak:
        started = time.perf_counter()
        size = (st.put("big", stream(chunks())) & FG).size
        results[f"{key}_put_big"] = total / (time.perf_counter() - started)
    results.update(rss_rows(f"{key}_put_big", peak, pids))
    with PeakRss(pids) as peak:
        started = time.perf_counter()
        got = sum(len(chunk) for chunk in st.get_stream("big") & STREAM)
        results[f"{key}_get_big"] = total / (time.perf_counter() - started)
    results.update(rss_rows(f"{key}_get_big", peak, pids))
    if size != total or got != total:
        raise RuntimeError(f"{prefix}: {size} bytes put and {got} read back of {total}")
    st.delete("big") & FG
    return results


def _start_moto(context: Context) -> str:
    """moto's S3 server of this run on a free loopback port; its endpoint."""
    port = free_port()
    server = context.children.start("moto.server", "-H", "127.0.0.1", "-p", str(port), env=CREDENTIALS)
    wait_port(port, server, "moto's server")
    return f"http://127.0.0.1:{port}"
