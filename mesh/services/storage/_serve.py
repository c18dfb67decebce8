"""``mesh serve storage --root DIR | --s3 URL | --memory``: a node that offers the storage service."""

from __future__ import annotations

import argparse
from typing import Any

from mesh import UsageError

from .._serving import refused, serve, service_parser
from ._service import serve_storage
from .backends import Backend, LocalBackend, MemoryBackend, S3Backend, parse_s3_url


def add_parser(services: Any) -> None:
    """Add ``storage`` to the subcommands of ``mesh serve``."""
    parser = service_parser(
        services,
        "storage",
        run,
        "Storage",
        help="serve objects under paths (a local directory, S3, or memory) until Ctrl-C",
        description="Run a node that offers the storage service (storage.put, storage.get, ...) to the mesh "
        "until Ctrl-C or SIGTERM. A put's FG returns once the object is whole where it is kept.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", metavar="DIR", help="keep the objects as files under DIR (created when missing)")
    where.add_argument(
        "--s3", metavar="URL", help="keep them in a bucket: http(s)://HOST:PORT/BUCKET (S3-compatible) or s3://BUCKET"
    )
    where.add_argument("--memory", action="store_true", help="keep them in this process's memory (for tests)")
    parser.add_argument("--s3-region", help="the bucket's region (default: us-east-1)")
    parser.add_argument(
        "--no-direct",
        action="store_true",
        help="send every object through the mesh: hand clients on this machine no open files (--root) "
        "and no presigned URLs (--s3)",
    )


def run(options: argparse.Namespace) -> int:
    """Open the backend, then serve it; a backend that cannot be opened ends the command at once."""
    try:
        backend: Backend
        if options.s3 is not None:
            endpoint, bucket = parse_s3_url(options.s3)
            backend = S3Backend(bucket, endpoint, options.s3_region)
        else:
            backend = MemoryBackend() if options.memory else LocalBackend(options.root)
    except (UsageError, OSError) as exc:
        return refused("storage", exc, 2 if isinstance(exc, UsageError) else 1)
    return serve(
        options,
        "storage",
        lambda g: serve_storage(g, backend, options.prefix, not options.no_direct),
        f"{backend.description} as {options.prefix}.*",
        backend.close,
    )
