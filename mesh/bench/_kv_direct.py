"""The kv rows' baselines: SQLite and Redis used directly from this process, as the kv service uses
them (the same SQLite settings and table; the same redis-server), storing the same bytes."""

from __future__ import annotations

import pickle
import sqlite3
from typing import Any

from ._counts import Counts
from ._stats import percentile, timed

KEY = "bench:key"
VALUE = b"\x01" * 100
# What the kv service stores for VALUE (mesh/services/kv/_values.py: a tag, then the pickle).
STORED = b"p" + pickle.dumps(VALUE, pickle.HIGHEST_PROTOCOL)
# The keys the floods of writes and reads cycle through.
KEYS = [f"bench:{number}" for number in range(1000)]


def _batches(counts: Counts) -> list[list[str]]:
    """``counts.stream`` keys from :data:`KEYS` in batches of ``counts.in_flight``."""
    keys = [KEYS[number % len(KEYS)] for number in range(counts.stream)]
    return [keys[start : start + counts.in_flight] for start in range(0, len(keys), counts.in_flight)]


def _rate(counts: Counts, run: Any) -> float:
    seconds = sum(timed(lambda: [run(batch) for batch in _batches(counts)], 1))
    return counts.stream / seconds


def sqlite_rows(path: str, counts: Counts) -> dict[str, float]:
    """sqlite3 in this process on a file of its own: a set committed alone and a get (p50), sets in
    transactions of ``counts.in_flight`` and gets one after another (per second)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL) WITHOUT ROWID")
        connection.execute("CREATE INDEX kv_expires ON kv (expires) WHERE expires IS NOT NULL")
        insert = "INSERT OR REPLACE INTO kv VALUES (?, ?, NULL)"
        select = "SELECT value, expires FROM kv WHERE key = ?"

        def commit(keys: list[str]) -> None:
            connection.execute("BEGIN IMMEDIATE")
            for key in keys:
                connection.execute(insert, (key, STORED))
            connection.execute("COMMIT")

        def read(keys: list[str]) -> None:
            for key in keys:
                connection.execute(select, (key,)).fetchone()

        connection.execute(insert, (KEY, STORED))
        return {
            "direct_set_p50": percentile(timed(lambda: connection.execute(insert, (KEY, STORED)), counts.calls), 50),
            "direct_get_p50": percentile(timed(lambda: read([KEY]), counts.calls), 50),
            "direct_set_batch": _rate(counts, commit),
            "direct_get_batch": _rate(counts, read),
        }
    finally:
        connection.close()


def redis_rows(url: str, counts: Counts) -> dict[str, float]:
    """redis-py in this process: SET and GET one at a time (p50), then pipelined by ``counts.in_flight``
    (per second)."""
    import redis

    client = redis.Redis.from_url(url)
    try:

        def pipelined(command: str) -> Any:
            def run(keys: list[str]) -> None:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.set(key, STORED) if command == "set" else pipe.get(key)
                pipe.execute()

            return run

        client.set(KEY, STORED)
        return {
            "direct_set_p50": percentile(timed(lambda: client.set(KEY, STORED), counts.calls), 50),
            "direct_get_p50": percentile(timed(lambda: client.get(KEY), counts.calls), 50),
            "direct_set_batch": _rate(counts, pipelined("set")),
            "direct_get_batch": _rate(counts, pipelined("get")),
        }
    finally:
        client.close()
