"""gRPC core's settings for the whole process, which it reads from the environment once, as ``grpc`` is first imported.

Importing this module (``import mesh`` does, before it imports gRPC) calls :func:`configure_grpc`,
which sets each variable only where the program has not set it (set one yourself, even to an empty
value, to keep gRPC's own default):

- ``GRPC_VERBOSITY=ERROR``: gRPC core logs routine connection events (GOAWAY on a peer's clean
  stop) at INFO; they stay out of users' terminals unless asked for.
- ``GRPC_EXPERIMENTS=-event_engine_client,-event_engine_listener``: channels and servers do their
  TCP and UNIX-socket I/O on gRPC core's poll-based engine instead of its EventEngine. EventEngine
  reads a socket on a thread of its own pool and hands each message on to the completion queue's
  poller, one more thread hop per message; the poll-based engine reads it on the poller thread
  itself, and a message costs less (docs/api.md, "gRPC's I/O", has the figures). Set only for the gRPC
  releases it was measured on (:data:`POLL_ENGINE_UP_TO`): a later release may have retired those
  experiments, and gRPC core logs an error for each name it does not know.

Once ``grpc`` is imported, its core has read the environment: :func:`configure_grpc` then sets
nothing, since it could change only child processes, which import the mesh themselves.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path

POLL_ENGINE = "-event_engine_client,-event_engine_listener"
POLL_ENGINE_UP_TO = (1, 85)
"""The newest grpcio release (major, minor) on which :data:`POLL_ENGINE` was measured."""

_VERSION = re.compile(r'__version__\s*=\s*["\']+(\d+)\.(\d+)')


def configure_grpc(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set gRPC core's variables in ``environ`` (see the module docstring), unless ``grpc`` is imported already."""
    if "grpc" in sys.modules:
        return
    environ.setdefault("GRPC_VERBOSITY", "ERROR")
    release = grpcio_release()
    if release is not None and release <= POLL_ENGINE_UP_TO:
        environ.setdefault("GRPC_EXPERIMENTS", POLL_ENGINE)


def grpcio_release() -> tuple[int, int] | None:
    """The installed grpcio's (major, minor), read from its version file without importing it; None if unknown."""
    spec = importlib.util.find_spec("grpc")
    if spec is None or spec.origin is None:
        return None
    try:
        text = Path(spec.origin).with_name("_grpcio_metadata.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = _VERSION.search(text)
    return None if found is None else (int(found[1]), int(found[2]))


configure_grpc()
