"""Logs that carry the node name: a filter that gives every record of the ``mesh`` loggers a ``node``
attribute, a readable and a JSON format, and :func:`configure_logging`, which puts them on a handler.

A record's node is, first, the one its call gave (``extra={"node": ...}``); else the one
:func:`configure_logging` was told; else the node running in this process (the names of all of them,
comma-separated, when there are several); else ``-``.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import IO, Any

# The nodes running in this process, by start order (Node.start adds, Node.stop removes).
running: list[str] = []

READABLE = "%(asctime)s %(levelname)-7s %(node)s %(name)s: %(message)s"


class NodeFilter(logging.Filter):
    """Gives each record a ``node`` attribute (see the module's docstring); drops none."""

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "node"):
            record.node = self.node or ",".join(running) or "-"
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, node, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "node": getattr(record, "node", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(
    level: int | str = logging.INFO, *, json_lines: bool = False, node: str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Log the mesh's records at ``level`` and above to ``stream`` (default: stderr), each with its node name.

    Args:
        level: the lowest level shown (``logging.INFO``, ``"DEBUG"``, ...).
        json_lines: one JSON object a line (time, level, logger, node, message, exc) instead of
            ``TIME LEVEL NODE LOGGER: MESSAGE``.
        node: the node name every record carries (default: the node running in this process).
        stream: where the lines go.

    Returns the handler it added to the ``mesh`` logger (remove it with ``logging.getLogger("mesh").removeHandler``).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(NodeFilter(node))
    handler.setFormatter(JSONFormatter() if json_lines else logging.Formatter(READABLE))
    mesh_logger = logging.getLogger("mesh")
    mesh_logger.addHandler(handler)
    mesh_logger.setLevel(level)
    return handler
