"""Removing the socket files of nodes that died without cleaning up (SIGKILL, power loss).

A node removes its own UNIX socket when it stops, at the latest when its program exits. A node that
was killed cannot, and its ``node-<id>.sock`` would stay in ``<temp dir>/grpcmesh`` for ever (node ids
are random, so no later node binds the same path and replaces it). So the first node of a process
that listens in that folder removes the files no process serves any more:

1. the files are listed first, then the sockets bound in this network namespace
   (``/proc/net/unix``): a listed path is alive, and was bound before the listing, so a node that
   starts meanwhile is never mistaken for a dead one;
2. a path not listed there may still be served from another network namespace that shares the
   folder: it is removed only when it is at least ``MIN_AGE`` seconds old and a connection to it is
   refused (``ECONNREFUSED``: nothing listens on that file).

Elsewhere than Linux step 1 finds nothing and every old file is probed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

# A socket file younger than this is left alone: it may be a node between bind() and listen().
MIN_AGE = 1.0

_swept: set[Path] = set()
_swept_lock = threading.Lock()


def sweep_once(directory: Path) -> None:
    """Remove the dead nodes' socket files of ``directory``, the first time this process asks."""
    with _swept_lock:
        if directory in _swept:
            return
        _swept.add(directory)
    remove_dead_sockets(directory)


def remove_dead_sockets(directory: Path) -> list[Path]:
    """Remove the ``node-*.sock`` files of ``directory`` that provably no process serves; return them."""
    candidates = sorted(directory.glob("node-*.sock"))
    if not candidates:
        return []
    bound = _bound_paths()
    now = time.time()
    removed = []
    for path in candidates:
        if str(path) in bound or _age(path, now) < MIN_AGE or not _refused(path):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def _bound_paths() -> set[str]:
    """The paths of the UNIX sockets bound in this network namespace (empty where /proc is not)."""
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return set()
    # Num RefCount Protocol Flags Type St Inode [Path]
    return {fields[7] for fields in (line.split(maxsplit=7) for line in lines) if len(fields) == 8}


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _refused(path: Path) -> bool:
    """Whether a connection to ``path`` is refused; never blocks (a full backlog counts as alive)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        probe.close()
    return False
