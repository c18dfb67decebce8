"""The storage rows' baselines: a file written and read directly from this process, and boto3 called
directly on the same S3 server the service uses, with the object sizes of the service's rows."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from mesh.services.storage.backends.s3 import PART_SIZE

from ._counts import Counts
from ._stats import percentile, timed


def _big(counts: Counts, run: Callable[[], int]) -> float:
    """Bytes per second of ``run()``, which moves ``counts.storage_mib`` MiB and says how many bytes."""
    started = time.perf_counter()
    moved = run()
    elapsed = time.perf_counter() - started
    if moved != counts.storage_bytes:
        raise RuntimeError(f"a direct transfer moved {moved} bytes of {counts.storage_bytes}")
    return moved / elapsed


def file_rows(folder: str, counts: Counts) -> dict[str, float]:
    """A file of 1 MiB written (and fsynced) and read whole (p50), and one of ``counts.storage_mib``
    MiB written in 1 MiB chunks (and fsynced) and read in 1 MiB chunks (bytes per second)."""
    small, big = os.path.join(folder, "direct-1mib"), os.path.join(folder, "direct-big")
    chunk = b"\x01" * counts.mib

    def write(path: str, chunks: int) -> int:
        with open(path, "wb") as out:
            for _ in range(chunks):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return chunks * counts.mib

    def read(path: str) -> int:
        total = 0
        with open(path, "rb") as source:
            while data := source.read(counts.mib):
                total += len(data)
        return total

    rows = {
        "direct_put_1mib_p50": percentile(timed(lambda: write(small, 1), counts.payload_calls), 50),
        "direct_get_1mib_p50": percentile(timed(lambda: read(small), counts.payload_calls), 50),
        "direct_put_big": _big(counts, lambda: write(big, counts.storage_mib)),
        "direct_get_big": _big(counts, lambda: read(big)),
    }
    os.unlink(big)
    return rows


def s3_rows(client: Any, bucket: str, counts: Counts) -> dict[str, float]:
    """boto3 on ``bucket``: put_object and get_object of 1 MiB (p50), then ``counts.storage_mib`` MiB
    up as a multipart upload of the S3 backend's part size and down in 1 MiB chunks (bytes per second)."""
    data = b"\x01" * counts.mib

    def upload() -> int:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key="direct-big")["UploadId"]
        part, sent = b"\x01" * PART_SIZE, 0
        parts: list[dict[str, Any]] = []
        while sent < counts.storage_bytes:
            body = part[: counts.storage_bytes - sent]
            answer = client.upload_part(
                Bucket=bucket, Key="direct-big", UploadId=upload_id, PartNumber=len(parts) + 1, Body=body
            )
            parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
            sent += len(body)
        client.complete_multipart_upload(
            Bucket=bucket, Key="direct-big", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return sent

    def download() -> int:
        body = client.get_object(Bucket=bucket, Key="direct-big")["Body"]
        try:
            return sum(len(chunk) for chunk in body.iter_chunks(counts.mib))
        finally:
            body.close()

    def get_small() -> None:
        client.get_object(Bucket=bucket, Key="direct-1mib")["Body"].read()

    rows = {
        "direct_put_1mib_p50": percentile(
            timed(lambda: client.put_object(Bucket=bucket, Key="direct-1mib", Body=data), counts.payload_calls), 50
        ),
        "direct_get_1mib_p50": percentile(timed(get_small, counts.payload_calls), 50),
        "direct_put_big": _big(counts, upload),
        "direct_get_big": _big(counts, download),
    }
    client.delete_object(Bucket=bucket, Key="direct-big")
    return rows
