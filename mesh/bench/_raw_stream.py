"""The baseline of the stream rows: raw ``grpc.aio`` streams of 1 MiB chunks, each way.

The raw echo server (``bench/_raw.py``) also serves ``Source`` (a server stream of ``count`` chunks
of ``size`` bytes, asked for as ``b"count size"``) and ``Sink`` (a client stream whose bytes it
counts, answered as ``b"total"``). Plain bytes, one gRPC message per chunk, gRPC's own flow control:
what any design that streams over gRPC starts from.
"""

from __future__ import annotations

import os
import time
from typing import Any

import grpc

from ._counts import Counts
from ._rss import PeakRss, rss_rows

SOURCE = "Source"
SINK = "Sink"


async def _source(request: bytes, context: grpc.aio.ServicerContext) -> None:
    count, size = (int(n) for n in request.split())
    chunk = b"\x01" * size
    for _ in range(count):
        await context.write(chunk)


async def _sink(request_iterator: Any, context: grpc.aio.ServicerContext) -> bytes:
    total = 0
    while True:
        message = await context.read()
        if message is grpc.aio.EOF:
            return str(total).encode()
        total += len(message)


def handlers() -> dict[str, grpc.RpcMethodHandler]:
    """The server's two stream methods, by name, for its generic handler."""
    return {
        SOURCE: grpc.unary_stream_rpc_method_handler(_source),
        SINK: grpc.stream_unary_rpc_method_handler(_sink),
    }


async def measure(channel: grpc.aio.Channel, service: str, counts: Counts, server_pid: int) -> dict[str, float]:
    """Bytes per second of ``counts.stream_mib`` chunks of 1 MiB each way, and the peak RSS each side
    added meanwhile (``raw_stream_out``: server to client, ``raw_stream_in``: client to server)."""
    results: dict[str, float] = {}
    chunks, total = counts.stream_mib, counts.stream_bytes
    pids = (os.getpid(), server_pid)

    with PeakRss(pids) as peak:
        started = time.perf_counter()
        received = 0
        async for chunk in channel.unary_stream(f"/{service}/{SOURCE}")(f"{chunks} {counts.mib}".encode()):
            received += len(chunk)
        results["raw_stream_out"] = total / (time.perf_counter() - started)
    if received != total:
        raise RuntimeError(f"raw stream out: {received} bytes of {total} came")
    results.update(rss_rows("raw_stream_out", peak, pids))

    with PeakRss(pids) as peak:
        chunk = b"\x01" * counts.mib
        started = time.perf_counter()
        call = channel.stream_unary(f"/{service}/{SINK}")()
        for _ in range(chunks):
            await call.write(chunk)
        await call.done_writing()
        counted = int(await call)
        results["raw_stream_in"] = total / (time.perf_counter() - started)
    if counted != total:
        raise RuntimeError(f"raw stream in: the server counted {counted} bytes of {total}")
    results.update(rss_rows("raw_stream_in", peak, pids))
    return results
