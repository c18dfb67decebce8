"""Which call a callback is serving, so that another node may answer it: :func:`current_caller`, the
:class:`Caller` it returns, and the mark the serving code leaves for it (:func:`serving_call`).

A callback that hands its work to another node (``FG(answer=current_caller())``) lets that node send
its result straight to the caller: one message where the way back through the callback's node takes
two. The callback's own answer still goes too, and whichever arrives first answers the call.
"""

from __future__ import annotations

import asyncio
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._serve import IncomingCall


@dataclass(frozen=True, slots=True)
class Caller:
    """The node that made the call a callback is serving, and that call's id on its link: what
    :func:`current_caller` returns and ``FG(answer=...)`` takes. Only the node serving the call
    (``served_by``) may hand it on."""

    node_id: str
    node_name: str
    call_id: int
    served_by: str


# The call being served, and who serves it: the worker thread (by ident) of a sync callback, or None
# for an async one, whose owner is the task its link keeps for the call. A task or thread started
# inside the callback inherits the mark but is not its owner, so it sees no caller.
_SERVING: ContextVar[tuple[IncomingCall, int | None] | None] = ContextVar("mesh_serving", default=None)


def serving_call(call: IncomingCall, thread: int | None) -> Any:
    """Mark ``call`` as the one served now, by the worker thread of ident ``thread`` (None: by the task
    that runs the async callback); returns the token that :func:`end_serving` takes."""
    return _SERVING.set((call, thread))


def end_serving(token: Any) -> None:
    _SERVING.reset(token)


def current_caller() -> Caller | None:
    """The caller of the call that the running callback serves for another node, for ``FG(answer=...)``.

    None outside a callback, in a task or thread the callback started, and in a callback that nobody
    waits for (a NO_RETURN call), that streams (STREAM, ``stream(...)`` arguments), that runs inline
    on the event loop, or that its own node called.
    """
    entry = _SERVING.get()
    if entry is None:
        return None
    call, thread = entry
    link = call.link
    if thread is not None:
        if thread != threading.get_ident():
            return None
    elif link.incoming.get(call.call_id) is not _current_task():
        return None
    return Caller(link.peer_id, link.peer_name, call.call_id, call.node.node_id)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop runs in this thread
        return None
