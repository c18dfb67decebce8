"""The rows of the kv and storage services in the table, each against its backend used directly in
the same run (``mesh.bench._kv``, ``mesh.bench._storage``)."""

from __future__ import annotations

from ._counts import Counts
from ._kv import KEYS_A_CALL
from ._table import Row, cpu_rows, rss_rows

# key, name in labels, the direct client's name, how the direct client batches
_KV = (("kv_sqlite", "SQLite", "sqlite3"), ("kv_redis", "Redis", "redis-py"))
_STORAGE = (("st_local", "a local directory", "file"), ("st_s3", "S3 (moto)", "boto3"))


def service_rows(counts: Counts) -> list[Row]:
    """The kv rows, then the storage rows."""
    window = f"{counts.in_flight:,}"
    table = []
    for key, name, client in _KV:
        batched = f"in transactions of {window}" if client == "sqlite3" else f"pipelined by {window}"
        reads = "one SELECT after another" if client == "sqlite3" else f"pipelined by {window}"
        set_p50, get_p50 = f"{client} set p50", f"{client} get p50"
        one = "one commit" if client == "sqlite3" else "one command"
        table += [
            Row(f"{key}_direct_set_p50", f"{client} set directly, {one} each, p50"),
            Row(f"{key}_direct_get_p50", f"{client} get directly, p50"),
            Row(f"{key}_direct_set_batch", f"{client} set directly, {batched}", rate=True),
            Row(f"{key}_direct_get_batch", f"{client} get directly, {reads}", rate=True),
            Row(f"{key}_set_p50", f"kv.set & FG on {name}, p50", baseline=f"{key}_direct_set_p50", against=set_p50),
            Row(f"{key}_echo_p50", f"mesh & FG echo of a small value, p50, in turn with kv.get on {name}"),
            Row(
                f"{key}_get_p50", f"kv.get & FG on {name}, p50", baseline=f"{key}_echo_p50", against="mesh FG echo p50"
            ),
            Row(
                f"{key}_get_p50", f"kv.get & FG on {name}, p50 (vs {client})", baseline=f"{key}_direct_get_p50",
                against=get_p50,
            ),
            Row(
                f"{key}_set_bg", f"kv.set & BG on {name}, {window} in flight", True, f"{key}_direct_set_batch",
                against=f"{client} set {batched}",
            ),
            *cpu_rows(f"{key}_set_bg"),
            Row(f"{key}_set_bg", f"kv.set & BG on {name}, {window} in flight (vs mesh BG)", True, "mesh_bg"),
            Row(
                f"{key}_get_bg", f"kv.get & BG on {name}, {window} in flight", True, f"{key}_direct_get_batch",
                against=f"{client} get {reads}",
            ),
            *cpu_rows(f"{key}_get_bg"),
            Row(
                f"{key}_set_many_bg", f"kv.set_many of {KEYS_A_CALL} & BG on {name}, {window} keys in flight", True,
                f"{key}_direct_set_batch", against=f"{client} set {batched}",
            ),
            *cpu_rows(f"{key}_set_many_bg", per="key"),
            Row(
                f"{key}_get_many_bg", f"kv.get_many of {KEYS_A_CALL} & BG on {name}, {window} keys in flight", True,
                f"{key}_direct_get_batch", against=f"{client} get {reads}",
            ),
            *cpu_rows(f"{key}_get_many_bg", per="key"),
        ]  # fmt: skip
    big = f"{counts.storage_mib} MiB"
    for key, name, client in _STORAGE:
        table += [
            Row(f"{key}_direct_put_1mib_p50", _direct_label(client, "put", "1 MiB")),
            Row(f"{key}_direct_get_1mib_p50", _direct_label(client, "get", "1 MiB")),
            Row(f"{key}_direct_put_big", _direct_label(client, "put", big), True, size=True),
            Row(f"{key}_direct_get_big", _direct_label(client, "get", big), True, size=True),
        ]
        for path, how in (("", ""), ("_streamed", ", through the mesh only")):
            table += _storage_rows(key, f"{key}{path}", f"{name}{how}", client, big)
    return table


def _storage_rows(key: str, measured: str, name: str, client: str, big: str) -> list[Row]:
    """The service's rows of one way (``measured``: the key of its figures), each against the backend's
    own client (``key``'s direct rows)."""
    direct = "file" if client == "file" else "boto3"
    return [
        Row(
            f"{measured}_put_1mib_p50", f"storage.put & FG of 1 MiB to {name}, p50",
            baseline=f"{key}_direct_put_1mib_p50", against=f"{direct} put 1 MiB p50",
        ),
        Row(
            f"{measured}_get_1mib_p50", f"storage.get & FG of 1 MiB from {name}, p50",
            baseline=f"{key}_direct_get_1mib_p50", against=f"{direct} get 1 MiB p50",
        ),
        Row(
            f"{measured}_put_big", f"storage.put of {big} as stream(...) of 1 MiB chunks to {name}", True,
            f"{key}_direct_put_big", size=True, against=f"{direct} put {big}",
        ),
        *rss_rows(f"{measured}_put_big", "caller", "service"),
        Row(
            f"{measured}_get_big", f"storage.get_stream of {big} & STREAM from {name}", True, f"{key}_direct_get_big",
            size=True, against=f"{direct} get {big}",
        ),
        *rss_rows(f"{measured}_get_big", "caller", "service"),
    ]  # fmt: skip


def _direct_label(client: str, verb: str, size: str) -> str:
    if client == "file":
        how = "written and fsynced" if verb == "put" else "read"
        return f"file of {size} {how} directly" + (", in 1 MiB chunks" if size != "1 MiB" else "")
    if verb == "put":
        return (
            f"boto3 put_object of {size} directly"
            if size == "1 MiB"
            else f"boto3 multipart upload of {size} directly, 8 MiB parts"
        )
    return f"boto3 get_object of {size} directly" + (", read in 1 MiB chunks" if size != "1 MiB" else "")
