"""The baseline: a raw ``grpc.aio`` bidirectional stream echo between two processes.

``python -m mesh.bench._raw --listen ADDRESS`` serves the echo and prints ``MALLOC <settings>`` (the
allocator's, see ``bench/_malloc.py``), then ``READY <address>``; the
measuring side is :func:`measure`. Messages are plain bytes (no protobuf), one gRPC message each:
the floor for any design that talks gRPC.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from typing import Any

import grpc

from mesh.node._event_loop import new_event_loop

from . import _loop, _malloc, _raw_stream
from ._stats import latency

SERVICE = "bench.Echo"
METHOD = f"/{SERVICE}/Echo"
SMALL = b"x" * 32
SYNC_TIMEOUT = 30.0


def options(max_message: int) -> list[tuple[str, Any]]:
    return [("grpc.max_send_message_length", max_message), ("grpc.max_receive_message_length", max_message)]


async def _echo(request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
    while True:
        message = await context.read()
        if message is grpc.aio.EOF:
            return
        await context.write(message)


async def serve(listen: str, max_message: int) -> None:
    server = grpc.aio.server(options=options(max_message))
    methods = {"Echo": grpc.stream_stream_rpc_method_handler(_echo), **_raw_stream.handlers()}
    handler = grpc.method_handlers_generic_handler(SERVICE, methods)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    await server.start()
    address = listen if listen.startswith("unix:") else f"{listen.rpartition(':')[0]}:{port}"
    print(f"READY {address}", flush=True)
    await server.wait_for_termination()


async def _round_trips(stream: Any, payload: bytes, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await stream.write(payload)
        await stream.read()
        samples.append(time.perf_counter() - started)
    return samples


async def _pipelined(stream: Any, count: int) -> float:
    async def write_all() -> None:
        for _ in range(count):
            await stream.write(SMALL)

    started = time.perf_counter()
    writer = asyncio.create_task(write_all())
    for _ in range(count):
        await stream.read()
    await writer
    return count / (time.perf_counter() - started)


async def first_echo(address: str, max_message: int) -> None:
    """One echo on a new channel: the end of the "process start to first answer" row."""
    async with grpc.aio.insecure_channel(address, options=options(max_message)) as channel:
        stream = channel.stream_stream(METHOD)()
        await stream.write(SMALL)
        await stream.read()
        await stream.done_writing()


async def measure(
    address: str, counts: Any, max_message: int, payloads: bool, stream_server: int | None = None
) -> dict[str, float]:
    """Sequential round trips, pipelined throughput, (with ``payloads``) large echoes, and (given
    ``stream_server``, the server's PID) the stream rows of :mod:`mesh.bench._raw_stream`."""
    results: dict[str, float] = {}
    async with grpc.aio.insecure_channel(address, options=options(max_message)) as channel:
        stream = channel.stream_stream(METHOD)()
        await _round_trips(stream, SMALL, counts.warmup)
        results.update(latency("raw_seq", await _round_trips(stream, SMALL, counts.calls)))
        results["raw_pipelined"] = await _pipelined(stream, counts.stream)
        if payloads:
            one = b"\x01" * counts.mib
            results["raw_1mib_p50"] = latency("x", await _round_trips(stream, one, counts.payload_calls))["x_p50"]
            big = b"\x01" * counts.big_bytes
            results["raw_big_p50"] = latency("x", await _round_trips(stream, big, counts.big_calls))["x_p50"]
        await stream.done_writing()
        if stream_server is not None:
            results.update(await _raw_stream.measure(channel, SERVICE, counts, stream_server))
    return results


async def _echo_on_request(address: str, max_message: int, requests: asyncio.Queue[threading.Lock | None]) -> None:
    async with grpc.aio.insecure_channel(address, options=options(max_message)) as channel:
        stream = channel.stream_stream(METHOD)()
        while (answered := await requests.get()) is not None:
            await stream.write(SMALL)
            await stream.read()
            answered.release()
        await stream.done_writing()


def sync_round_trips(address: str, max_message: int, warmup: int, count: int) -> list[float]:
    """Sequential round trips asked for by this thread and made by an event loop in another thread.

    The same echo as :func:`measure`, plus what any synchronous caller of grpc.aio pays: waking the
    loop's thread (``call_soon_threadsafe``) and, once the answer is read, waking this one (a lock).
    That is how a sync program's ``& FG`` reaches its node's loop, so this is the floor of that row.

    Raises:
        RuntimeError: an echo did not come back within :data:`SYNC_TIMEOUT` seconds.
    """
    loop = _loop.get()
    requests: asyncio.Queue[threading.Lock | None] = asyncio.Queue()
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            loop.run_until_complete(_echo_on_request(address, max_message, requests))
        except BaseException as exc:
            failure.append(exc)

    driver = threading.Thread(target=drive, name="bench-raw-loop", daemon=True)
    driver.start()
    samples = []
    try:
        for i in range(warmup + count):
            answered = threading.Lock()
            answered.acquire()
            started = time.perf_counter()
            loop.call_soon_threadsafe(requests.put_nowait, answered)
            if not answered.acquire(timeout=SYNC_TIMEOUT):
                cause = failure[0] if failure else None
                raise RuntimeError(f"raw echo from a sync thread: no answer within {SYNC_TIMEOUT} s") from cause
            if i >= warmup:
                samples.append(time.perf_counter() - started)
    finally:
        if driver.is_alive():
            loop.call_soon_threadsafe(requests.put_nowait, None)
        driver.join(SYNC_TIMEOUT)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--max-message", type=int, required=True)
    options_ = parser.parse_args()
    print(f"MALLOC {_malloc.apply()}", flush=True)
    new_event_loop().run_until_complete(serve(options_.listen, options_.max_message))


if __name__ == "__main__":
    main()
