"""Keeping freed memory for reuse, so large payloads do not pay for fresh pages on every call.

glibc serves allocations above its mmap threshold (dynamic, from 128 KiB) with fresh ``mmap``
pages and gives freed heap memory back to the system above its trim threshold. A 1 MiB payload is
copied several times on its way (pickle, protobuf, gRPC, the socket), and when every copy lands on
fresh pages, each page faults, and on a virtual machine that costs many times a copy into memory
already mapped: a 1 MiB echo between two processes takes a fraction of the time with these settings
(bench/README.md has the figures).

The settings are process-wide, so a node applies them once when it starts; set
``MESH_MALLOC_TUNING=0`` to keep the allocator's defaults. Off glibc (macOS, musl) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading

logger = logging.getLogger("mesh")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's ceiling for the mmap threshold on 64-bit systems; larger blocks are always mapped.
MMAP_THRESHOLD = 32 * 1024 * 1024
# Free memory kept at the top of each heap before glibc returns it to the system.
TRIM_THRESHOLD = 64 * 1024 * 1024

_lock = threading.Lock()
_applied: bool | None = None


def tune_malloc() -> bool:
    """Apply the settings once per process; True when they are in force."""
    global _applied
    with _lock:
        if _applied is None:
            _applied = _apply()
        return _applied


def _apply() -> bool:
    if os.environ.get("MESH_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; musl has no mallopt that does anything, and returns 0.
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    if not applied:
        logger.debug("mesh: the C library refused the malloc settings; large payloads may be slower")
    return applied
