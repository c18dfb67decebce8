"""``mesh serve kv --path FILE | --redis URL``: a node that offers the kv service."""

from __future__ import annotations

import argparse
from typing import Any

from mesh import UsageError

from .._serving import refused, serve, service_parser
from ._service import KVService
from .backends import open_backend


def add_parser(services: Any) -> None:
    """Add ``kv`` to the subcommands of ``mesh serve``."""
    parser = service_parser(
        services,
        "kv",
        run,
        "KV",
        help="serve the key-value store (SQLite file or Redis) until Ctrl-C",
        description="Run a node that offers the kv service (kv.set, kv.get, ...) to the mesh until Ctrl-C "
        "or SIGTERM. A write's FG returns once it is durable.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--path", help="the SQLite file that holds the keys (made when missing; WAL mode)")
    where.add_argument(
        "--redis",
        metavar="URL",
        help="a Redis server that holds the keys (redis://host:port/db); needs grpcmesh[redis]",
    )


def run(options: argparse.Namespace) -> int:
    """Open the backend, then serve it; a backend that cannot be opened ends the command at once."""
    try:
        backend = open_backend(options.path, options.redis)
    except (UsageError, ConnectionError, ImportError) as exc:
        return refused("kv", exc, 2 if isinstance(exc, UsageError) else 1)
    service = KVService(backend)
    return serve(
        options,
        "kv",
        lambda g: g.register(service, prefix=options.prefix),
        f"{backend.name} as {options.prefix}.*",
        backend.close,
    )
