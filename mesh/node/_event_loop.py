"""Which event loop the mesh makes for a sync program's node: uvloop when it is installed.

Every call crosses the node's loop several times (the caller's thread wakes it, gRPC's poller thread
hands it each completion, a worker thread hands back each result), and uvloop's wake-ups and
iterations cost less than asyncio's selector loop (sequential calls are faster, floods the same:
bench/README.md has the figures). The choice is read from ``$MESH_UVLOOP`` each time a sync program's
node starts:

- unset, empty or ``auto``: uvloop when it can be imported (``pip install 'grpcmesh[uvloop]'``);
- ``1``, ``true``, ``yes``, ``on``: uvloop, and an error when it is not installed;
- ``0``, ``false``, ``no``, ``off``: the loop ``asyncio.new_event_loop()`` makes (asyncio's own,
  unless the program set an event loop policy).

An async program's node runs on the program's own loop: ``uvloop.run(main())`` gives it the same.
"""

from __future__ import annotations

import asyncio
import os
from importlib import import_module
from typing import Literal

from ..errors import UsageError

ENV = "MESH_UVLOOP"
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")
_AUTO = ("", "auto")

LoopKind = Literal["uvloop", "asyncio"]


def selected_kind() -> LoopKind:
    """The kind of loop ``$MESH_UVLOOP`` selects now (see the module docstring).

    Raises:
        UsageError: ``$MESH_UVLOOP`` has a value not listed in the module docstring, or asks for
            uvloop and uvloop cannot be imported.
    """
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in _OFF:
        return "asyncio"
    if setting not in _ON and setting not in _AUTO:
        raise UsageError(
            f"{ENV}={os.environ[ENV]!r} is not one of auto, {', '.join(_ON)} (uvloop) or {', '.join(_OFF)} (asyncio)"
        )
    try:
        import_module("uvloop")
    except ImportError as exc:
        if setting in _ON:
            raise UsageError(
                f"{ENV}={os.environ[ENV]!r} asks for uvloop, which is not installed here: "
                "pip install 'grpcmesh[uvloop]' (not available on Windows)"
            ) from exc
        return "asyncio"
    return "uvloop"


def new_event_loop(kind: LoopKind | None = None) -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``, by default the kind ``$MESH_UVLOOP`` selects."""
    if (kind or selected_kind()) == "asyncio":
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = import_module("uvloop").new_event_loop()
    return loop


def kind_of(loop: asyncio.AbstractEventLoop) -> LoopKind:
    """Whether ``loop`` is a uvloop loop or another (asyncio's own, or one from an asyncio policy)."""
    return "uvloop" if type(loop).__module__.partition(".")[0] == "uvloop" else "asyncio"


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop 0.23.0`` or ``asyncio``: which kind ``loop`` is, for tables and logs."""
    if kind_of(loop) == "uvloop":
        return f"uvloop {import_module('uvloop').__version__}"
    return "asyncio"
