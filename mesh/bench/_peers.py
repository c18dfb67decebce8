"""What every peer-library comparison shares: its command line, and the rows measured the same way.

Each ``bench._peer_<library>`` module runs as ``serve --port P`` (the callee, prints ``READY``) or
``measure --port P --counts JSON`` (the caller, prints ``RESULT <json>``), in separate processes.
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._counts import Counts
from ._stats import latency, percentile, timed

Waiter = Callable[[], Any]


@dataclass
class Client:
    """The caller side of one library, as plain callables."""

    add: Callable[[int, int], int]
    echo: Callable[[bytes], bytes]
    submit_add: Callable[[int, int], Waiter] | None
    send_noop: Callable[[], None] | None
    calls: Callable[[], int]


def measure(client: Client, counts: Counts) -> dict[str, float]:
    """The peer rows: sequential latency, async throughput, fire-and-forget throughput, 1 MiB echo."""
    timed(lambda: client.add(1, 2), counts.warmup)
    results = latency("seq", timed(lambda: client.add(1, 2), counts.calls))
    if client.submit_add is not None:
        window: collections.deque[Waiter] = collections.deque()
        started = time.perf_counter()
        for _ in range(counts.stream):
            if len(window) >= counts.in_flight:
                window.popleft()()
            window.append(client.submit_add(1, 2))
        for wait in window:
            wait()
        results["bg"] = counts.stream / (time.perf_counter() - started)
    if client.send_noop is not None:
        goal = client.calls() + counts.no_return
        started = time.perf_counter()
        for _ in range(counts.no_return):
            client.send_noop()
        while client.calls() < goal:
            time.sleep(0.001)
        results["no_return"] = counts.no_return / (time.perf_counter() - started)
    data = b"\x01" * counts.mib
    results["1mib_p50"] = percentile(timed(lambda: client.echo(data), counts.payload_calls), 50)
    return results


class Counter:
    """The callee's count of fire-and-forget calls run (list append is atomic across threads)."""

    def __init__(self) -> None:
        self._seen: list[None] = []

    def tick(self) -> None:
        self._seen.append(None)

    def value(self) -> int:
        return len(self._seen)


def main(serve: Callable[[int], None], connect: Callable[[int], tuple[Client, Callable[[], None]]]) -> None:
    """``serve --port P`` or ``measure --port P --counts JSON``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["serve", "measure"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--counts", default=Counts().to_json())
    options = parser.parse_args()
    if options.role == "serve":
        serve(options.port)
        return
    client, close = connect(options.port)
    try:
        results = measure(client, Counts.from_json(options.counts))
    finally:
        close()
    print(f"RESULT {json.dumps(results)}", flush=True)
