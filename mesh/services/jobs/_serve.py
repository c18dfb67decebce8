"""``mesh serve jobs --path FILE | --redis URL``: a node that offers the jobs service."""

from __future__ import annotations

import argparse
from typing import Any

from .._serving import refused, serve, service_parser
from ._open import open_store
from ._service import CONCURRENCY, serve_jobs


def add_parser(services: Any) -> None:
    """Add ``jobs`` to the subcommands of ``mesh serve``."""
    parser = service_parser(
        services,
        "jobs",
        run,
        "Jobs",
        help="serve the jobs service (a SQLite job table) until Ctrl-C",
        description="Run a node that offers the jobs service (jobs.submit, jobs.result, ...) to the mesh until "
        "Ctrl-C or SIGTERM. Workers are the nodes that offer the jobs' callbacks. A submit's FG returns once the "
        "job is on disk.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--path", metavar="FILE", help="the jobs in a SQLite file (made when missing; WAL mode)")
    where.add_argument(
        "--redis", metavar="URL", help="the jobs in a Redis server (redis://host:port/db); needs grpcmesh[redis]"
    )
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help=f"jobs one worker runs at once (default: {CONCURRENCY})"
    )


def run(options: argparse.Namespace) -> int:
    """Open the job table, then serve it; options that cannot work end the command at once."""
    if options.concurrency < 1:
        return refused("jobs", f"--concurrency must be 1 or more, not {options.concurrency}", 2)
    try:
        store = open_store(options.path, options.redis)
    except (OSError, ImportError) as exc:
        return refused("jobs", exc, 1)
    return serve(
        options,
        "jobs",
        lambda g: serve_jobs(g, store, options.prefix, options.concurrency),
        f"{store.description} as {options.prefix}.*",
        store.close,
    )
