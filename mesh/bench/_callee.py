"""A mesh callee for the benchmark: ``python -m mesh.bench._callee --name N [--host H --port P]``.

Offers ``add(a, b)``, ``echo(data)`` and ``noop()`` (which counts its calls), plus ``calls()`` and
``wait_calls(n, timeout)`` so a caller can tell when every NO_RETURN call has run, and
``gc_seconds()``, its time in garbage collection; ``add_inline``, ``echo_inline`` and
``noop_inline`` are the same marked ``@callback(inline=True)`` (run on the node's loop). For the
stream rows: ``numbers(n)`` and ``chunks(count, size)`` yield (call them with STREAM), and
``count_items(items)`` and ``count_bytes(chunks)`` take a ``stream(...)`` argument. Prints
``READY <address>`` once joined; SIGTERM stops the node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from mesh import callback

from . import _gc
from ._proc import run_child_node

_count_lock = threading.Lock()
_count = 0


@callback
def add(a: int, b: int) -> int:
    return a + b


@callback(inline=True)
def add_inline(a: int, b: int) -> int:
    return a + b


@callback
def echo(data: Any) -> Any:
    return data


@callback(inline=True)
def echo_inline(data: Any) -> Any:
    return data


@callback
def noop() -> None:
    global _count
    with _count_lock:
        _count += 1


@callback(inline=True)
def noop_inline() -> None:
    noop()


@callback
def numbers(n: int) -> Iterator[int]:
    """0 to ``n - 1``, one item each: small items streamed out."""
    yield from range(n)


@callback
def chunks(count: int, size: int) -> Iterator[bytes]:
    """``count`` chunks of ``size`` bytes (the same bytes object each time, as raw gRPC's source sends)."""
    chunk = b"\x01" * size
    for _ in range(count):
        yield chunk


@callback
def count_items(items: Iterable[Any]) -> int:
    """How many items a streamed argument brought."""
    count = 0
    for _ in items:
        count += 1
    return count


@callback
def count_bytes(chunks: Iterable[bytes]) -> int:
    """How many bytes a streamed argument of bytes chunks brought."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
    return total


@callback
def calls() -> int:
    return _count


@callback
def wait_calls(n: int, timeout: float) -> int:
    """Return the number of ``noop`` calls run once it reaches ``n`` (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while _count < n and time.monotonic() < deadline:
        time.sleep(0.0005)
    return _count


@callback
def gc_seconds() -> float:
    """Seconds this process has spent in garbage collection since it started."""
    return _gc.seconds()


def main() -> None:
    _gc.seconds()
    run_child_node()


if __name__ == "__main__":
    main()
