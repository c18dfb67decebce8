"""The kv rows: ``kv.set`` and ``kv.get`` from sync code, one at a time and with ``counts.in_flight``
in flight (BG), on SQLite and on Redis, against the backend used directly (``_kv_direct``) and
against a mesh FG echo of the same run. Redis rows need ``redis-server`` on PATH and redis-py; the
benchmark starts its own server on a free loopback port."""

from __future__ import annotations

import itertools
import os
import shutil

from mesh import BG, FG
from mesh.services import KV

from . import _kv_direct
from ._context import Context, prefixed, skipped, wait_port
from ._counts import free_port
from ._kv_direct import KEY, KEYS, VALUE
from ._proc import Children
from ._stats import in_flight, percentile, timed, timed_in_turn

KEYS_A_CALL = 100
"""Keys a ``set_many`` or ``get_many`` call in the batched rows."""


def measure(context: Context) -> dict[str, float]:
    """Every kv row of one run: SQLite's, then Redis's (or a printed reason why not)."""
    counts = context.counts
    results: dict[str, float] = {}
    direct = _kv_direct.sqlite_rows(os.path.join(context.folder, "direct.db"), counts)
    service = context.serve("kv", "kv", "--path", os.path.join(context.folder, "kv.db"))
    results.update(prefixed("kv_sqlite", direct))
    results.update(_service_rows(context, "kv", "kv_sqlite", service.popen.pid))
    reason = redis_missing()
    if reason is not None:
        skipped(f"the kv rows on Redis are left out: {reason}")
        return results
    url = start_redis(context.children, context.folder)
    direct = _kv_direct.redis_rows(url, counts)
    service = context.serve("kv", "kv_redis", "--redis", url)
    results.update(prefixed("kv_redis", direct))
    results.update(_service_rows(context, "kv_redis", "kv_redis", service.popen.pid))
    return results


def _service_rows(context: Context, prefix: str, key: str, pid: int) -> dict[str, float]:
    """The rows of the kv service under ``prefix``, whose node is the process ``pid``: its two p50s and
    that of a mesh FG echo taken in turn with the gets, returned, and its two floods, with their CPU per
    call, written by the run's flood under ``key``."""
    g, kv, counts = context.g, KV(context.g, prefix), context.counts
    kv.set(KEY, VALUE) & FG
    timed_in_turn(lambda: kv.get(KEY) & FG, lambda: g.call.echo(KEY) & FG, counts.warmup)
    gets, echoes = timed_in_turn(lambda: kv.get(KEY) & FG, lambda: g.call.echo(KEY) & FG, counts.calls)
    rows = {
        f"{key}_set_p50": percentile(timed(lambda: kv.set(KEY, VALUE) & FG, counts.calls), 50),
        f"{key}_get_p50": percentile(gets, 50),
        f"{key}_echo_p50": percentile(echoes, 50),
    }
    flood, many, window = context.flood_on(pid), counts.stream, counts.in_flight
    # The gets read the keys the sets wrote, in the same order (as the direct rows do).
    writes, reads = itertools.cycle(KEYS[:many]), itertools.cycle(KEYS[:many])
    flood(f"{key}_set_bg", many, lambda: in_flight(lambda: kv.set(next(writes), VALUE) & BG, many, window))
    flood(f"{key}_get_bg", many, lambda: in_flight(lambda: kv.get(next(reads)) & BG, many, window))
    # The same keys and the same number in flight, KEYS_A_CALL to a call.
    starts = range(0, len(KEYS), KEYS_A_CALL)
    pairs = itertools.cycle([[(name, VALUE) for name in KEYS[start : start + KEYS_A_CALL]] for start in starts])
    names = itertools.cycle([KEYS[start : start + KEYS_A_CALL] for start in starts])
    calls, calls_window = max(1, many // KEYS_A_CALL), max(1, window // KEYS_A_CALL)
    set_many, get_many = (lambda: kv.set_many(next(pairs)) & BG), (lambda: kv.get_many(next(names)) & BG)
    flood(f"{key}_set_many_bg", many, lambda: KEYS_A_CALL * in_flight(set_many, calls, calls_window))
    flood(f"{key}_get_many_bg", many, lambda: KEYS_A_CALL * in_flight(get_many, calls, calls_window))
    return rows


def redis_missing() -> str | None:
    """Why a Redis row cannot run here (redis-server or redis-py missing), or None."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH (Debian: apt-get install redis-server)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "redis-py is not installed (pip install 'grpcmesh[redis]')"
    return None


def start_redis(children: Children, folder: str, appendonly: bool = False) -> str:
    """A redis-server on a free loopback port, its files in ``folder``, stopped with ``children``: without
    persistence, or with ``appendonly everysec``; its URL."""
    port = free_port()
    server = children.program(
        [
            str(shutil.which("redis-server")), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec", "--dir", folder,
            "--protected-mode", "yes",
        ]
    )  # fmt: skip
    wait_port(port, server, "redis-server")
    return f"redis://127.0.0.1:{port}/0"
