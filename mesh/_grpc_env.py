"""gRPC core's settings for the whole process, which it reads from the environment once, as ``grpc`` is first imported.

``import mesh`` imports this module before anything else, and it imports ``grpc`` (see
:func:`import_grpc`) with:

- ``GRPC_VERBOSITY=ERROR``, left in the environment where the program has not set it: gRPC core logs
  routine connection events (GOAWAY on a peer's clean stop) at INFO; they stay out of users'
  terminals unless asked for, in child processes too.
- ``GRPC_EXPERIMENTS=-event_engine_client,-event_engine_listener`` for the import only, where the
  program has not set it: channels and servers do their TCP and UNIX-socket I/O on gRPC core's
  poll-based engine instead of its EventEngine. EventEngine reads a socket on a thread of its own
  pool and hands each message on to the thread polling the completion queue, one more thread hop
  per message; the poll-based engine reads it on the polling thread itself, and a message costs
  less (docs/api.md, "gRPC's I/O", has the figures). The variable is taken out again once gRPC has
  read it, so that other gRPC programs this process starts keep their own engine (a mesh node's
  child process imports the mesh and picks it itself). Only for the gRPC releases it was measured
  on (:data:`POLL_ENGINE_UP_TO`): a later release may have retired those experiments, and gRPC core
  logs an error for each name it does not know.

Set either variable yourself, even to an empty value, and it is left as you set it. Once ``grpc`` is
imported, its core has read the environment, and nothing is set.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

POLL_ENGINE = "-event_engine_client,-event_engine_listener"
POLL_ENGINE_UP_TO = (1, 85)
"""The newest grpcio release (major, minor) on which :data:`POLL_ENGINE` was measured."""

_VERSION = re.compile(r'__version__\s*=\s*["\']+(\d+)\.(\d+)')


def import_grpc() -> bool:
    """Import ``grpc`` with the mesh's settings in the environment (see the module docstring), unless
    it is imported already; True if its I/O is the poll-based engine by the mesh's choice."""
    if "grpc" in sys.modules:
        return False
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    release = grpcio_release()
    chosen = "GRPC_EXPERIMENTS" not in os.environ and release is not None and release <= POLL_ENGINE_UP_TO
    if chosen:
        os.environ["GRPC_EXPERIMENTS"] = POLL_ENGINE
    try:
        import grpc  # noqa: F401
    finally:
        if chosen:
            del os.environ["GRPC_EXPERIMENTS"]
    return chosen


def grpcio_release() -> tuple[int, int] | None:
    """The installed grpcio's (major, minor), read from its version file without importing it; None if unknown."""
    # Not importlib.metadata: it scans every distribution on sys.path, tens of milliseconds of `import mesh`.
    spec = importlib.util.find_spec("grpc")
    if spec is None or spec.origin is None:
        return None
    try:
        text = Path(spec.origin).with_name("_grpcio_metadata.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = _VERSION.search(text)
    return None if found is None else (int(found[1]), int(found[2]))


poll_engine = import_grpc()
"""Whether this process's gRPC does its I/O on the poll-based engine by the mesh's choice."""
