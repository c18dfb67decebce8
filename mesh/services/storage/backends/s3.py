"""The S3-compatible backend (AWS S3, MinIO, Ceph, moto...), through boto3: ``pip install 'grpcmesh[s3]'``.

An object is a key of one bucket. A write of up to :data:`PART_SIZE` bytes is one ``PutObject``;
a longer one is a multipart upload of :data:`PART_SIZE` parts, sent as they fill, so memory holds one
part, and aborted when the stream fails: S3 shows the whole new object or the old one. Reads stream
the body in chunks. A client may be handed a presigned URL instead (:meth:`S3Backend.grant_read`,
:meth:`S3Backend.grant_write`, good for :data:`PRESIGNED_FOR` seconds) to GET or PUT the object
itself; a single PUT takes up to 5 GB (S3's limit), and the client uses one only for an object
sent whole (``bytes``, under ``max_message_size``). Credentials come from boto3's usual places
(``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from mesh import UsageError

from ._base import CHUNK_SIZE, Chunk, Grant, ObjectInfo

PART_SIZE = 8 * 1024 * 1024
"""The size of a multipart upload's parts (S3's least is 5 MiB, but for the last)."""

PRESIGNED_FOR = 300
"""Seconds a presigned URL stays good (a transfer started in time runs to its end)."""

SINGLE_PUT_LIMIT = 5 * 1000**3
"""The most one PUT may carry (S3's limit)."""

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def parse_s3_url(url: str) -> tuple[str | None, str]:
    """``(endpoint, bucket)`` of ``http://host:port/bucket`` (any S3-compatible server) or ``s3://bucket`` (AWS).

    Raises:
        UsageError: the URL has no bucket, or another scheme.
    """
    parts = urlsplit(url)
    if parts.scheme == "s3" and parts.netloc and parts.path in ("", "/"):
        return None, parts.netloc
    bucket = parts.path.strip("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or not bucket or "/" in bucket:
        raise UsageError(
            f"S3 location {url!r} is not http(s)://HOST:PORT/BUCKET (an S3-compatible server) or s3://BUCKET (AWS)"
        )
    return f"{parts.scheme}://{parts.netloc}", bucket


class S3Backend:
    """Objects as the keys of ``bucket`` at ``endpoint`` (AWS's when ``None``); the bucket must exist.

    Raises:
        ConnectionError: the server cannot be reached (naming it).
        FileNotFoundError: the bucket does not exist.
    """

    def __init__(self, bucket: str, endpoint: str | None = None, region: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise UsageError("the S3 backend needs boto3: pip install 'grpcmesh[s3]'") from exc
        self.bucket = bucket
        self.endpoint = endpoint or "AWS"
        self.description = f"S3 at {self.endpoint} (bucket {bucket!r})"
        config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
        self._client: Any = boto3.client("s3", endpoint_url=endpoint, region_name=region or "us-east-1", config=config)
        with self._translated(""):
            self._client.head_bucket(Bucket=bucket)

    @contextlib.contextmanager
    def _translated(self, path: str) -> Iterator[None]:
        """boto's errors as the storage's: missing, unreachable, refused."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "NoSuchBucket" or (code in _MISSING and not path):
                raise FileNotFoundError(errno.ENOENT, f"no bucket {self.bucket!r} at {self.endpoint}") from None
            if code in _MISSING:
                raise FileNotFoundError(errno.ENOENT, f"no object in {self.description}", path) from None
            raise OSError(f"{self.description} refused the request for {path!r}: {exc}") from None
        except NoCredentialsError:
            raise PermissionError(
                f"{self.description}: no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        except BotoCoreError as exc:
            raise ConnectionError(f"storage backend {self.description} cannot be reached: {exc}") from None

    def write(self, path: str, chunks: Iterable[Chunk]) -> ObjectInfo:
        buffer = bytearray()
        upload: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            with self._translated(path):
                for chunk in chunks:
                    buffer += chunk
                    if len(buffer) >= PART_SIZE:
                        if upload is None:
                            upload = self._client.create_multipart_upload(Bucket=self.bucket, Key=path)["UploadId"]
                        parts.append(self._part(path, upload, len(parts) + 1, buffer))
                if upload is None:
                    self._client.put_object(Bucket=self.bucket, Key=path, Body=bytes(buffer))
                else:
                    if buffer:
                        parts.append(self._part(path, upload, len(parts) + 1, buffer))
                    self._client.complete_multipart_upload(
                        Bucket=self.bucket, Key=path, UploadId=upload, MultipartUpload={"Parts": parts}
                    )
                    upload = None
        finally:
            if upload is not None:
                with contextlib.suppress(Exception):
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=path, UploadId=upload)
        return self.stat(path)

    def _part(self, path: str, upload: str, number: int, buffer: bytearray) -> dict[str, Any]:
        body = bytes(buffer)
        buffer.clear()
        sent = self._client.upload_part(Bucket=self.bucket, Key=path, UploadId=upload, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": sent["ETag"]}

    def read(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        with self._translated(path):
            body = self._client.get_object(Bucket=self.bucket, Key=path)["Body"]
        return self._chunks(path, body, chunk_size)

    def _chunks(self, path: str, body: Any, chunk_size: int) -> Iterator[bytes]:
        try:
            with self._translated(path):
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def stat(self, path: str) -> ObjectInfo:
        with self._translated(path):
            head = self._client.head_object(Bucket=self.bucket, Key=path)
        return ObjectInfo(path, int(head["ContentLength"]), head["LastModified"].timestamp())

    def names(self, prefix: str) -> list[str]:
        found: list[str] = []
        with self._translated(prefix):
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found += [entry["Key"] for entry in page.get("Contents", ())]
        return sorted(found)

    def delete(self, path: str) -> None:
        self.stat(path)  # S3 deletes a missing key without a word; the storage says it is missing
        with self._translated(path):
            self._client.delete_object(Bucket=self.bucket, Key=path)

    reads_direct_from = 8 * 1024 * 1024
    """Measured on moto: a GET of a presigned URL (a new HTTP connection) beats the mesh from 8 MiB."""

    def grant_read(self, path: str, machine: str) -> Grant | None:
        return Grant("url", self._presigned("get_object", path), self.description)

    def grant_write(self, path: str, machine: str, size: int) -> Grant | None:
        if not 0 <= size <= SINGLE_PUT_LIMIT:
            return None  # a stream of unknown length goes through the service's multipart upload
        return Grant("url", self._presigned("put_object", path), self.description)

    def _presigned(self, action: str, path: str) -> str:
        with self._translated(path):
            url: str = self._client.generate_presigned_url(
                action, Params={"Bucket": self.bucket, "Key": path}, ExpiresIn=PRESIGNED_FOR
            )
        return url

    def commit(self, token: str) -> ObjectInfo:
        raise UsageError(f"{self.description}: a write through a presigned URL takes effect without a commit")

    def abort(self, token: str) -> None:
        """Nothing to give up: a presigned PUT that was not made changed nothing."""

    def close(self) -> None:
        self._client.close()
