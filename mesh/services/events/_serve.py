"""``mesh serve events --path DIR | --redis URL``: a node that offers the events service."""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any

from mesh import Global

from .._serving import refused, serve, service_parser
from ._log import EventLog, EventStore, Retention
from ._service import ServedEvents, serve_events


def add_parser(services: Any) -> None:
    """Add ``events`` to the subcommands of ``mesh serve``."""
    parser = service_parser(
        services,
        "events",
        run,
        "Events",
        help="serve topics of events (a SQLite log) until Ctrl-C",
        description="Run a node that offers the events service (events.publish, events.read, events.subscribe, "
        "...) to the mesh until Ctrl-C or SIGTERM. A publish's FG returns once the event is durable.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--path", metavar="DIR", help="keep the log in SQLite under DIR (created when missing)")
    where.add_argument(
        "--redis", metavar="URL", help="keep it in Redis Streams (redis://host:port/db); needs grpcmesh[redis]"
    )
    parser.add_argument("--max-bytes", type=int, help="retention (--path): at most this many payload bytes a topic")
    parser.add_argument("--max-age", type=float, help="retention (--path): drop events older than this many seconds")


def run(options: argparse.Namespace) -> int:
    """Open the log, then serve it; a log that cannot be opened ends the command at once."""
    try:
        retention = Retention(options.max_bytes, options.max_age)
        log: EventStore
        if options.redis is not None:
            from ._redis import RedisLog

            log = RedisLog(options.redis, retention)
        else:
            log = EventLog(options.path, retention)
    except (ValueError, OSError, ImportError, sqlite3.Error) as exc:
        return refused("events", exc, 2 if isinstance(exc, ValueError) else 1)
    served: list[ServedEvents] = []

    def offer(g: Global) -> None:
        served.append(serve_events(g, log, options.prefix))

    def close() -> None:
        if served:
            served[0].close()
        else:
            log.close()

    return serve(options, "events", offer, f"{log.description} as {options.prefix}.*", close)
