"""``mesh call NAME [ARGS] [--receiver NODE] [--bg]``: one call of the mesh from the shell.

The command joins the mesh as a short-lived node (the same options as ``mesh serve``), calls, prints the
result as JSON (its ``repr`` when it is not JSON-able) and leaves. ``ARGS`` is JSON: a list is the
positional arguments, an object the keyword arguments, anything else the one argument.

``--bg`` submits the call as a job of the jobs service (``mesh serve jobs``) instead of waiting, prints
``{"job": ID}`` and leaves; ``mesh call jobs.result '["ID"]'`` gives its result later. A process that
ends cannot hold a BG future; a job is a handle that outlives it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
from typing import Any

from . import FG, BadArguments, CallTimeout, Global, MeshError, UnknownCallback, UsageError, configure_logging
from .errors import NodeStopped, TransportError
from .services import Jobs
from .services._serving import add_node_arguments, node_settings

# Exit codes: 0 the result was printed.
EXIT_RAISED = 1  # the callback raised
EXIT_USAGE = 2  # bad options, ARGS not JSON, arguments that do not fit the callback
EXIT_UNKNOWN = 3  # no node offers the callback (or not the --receiver)
EXIT_UNREACHABLE = 4  # the controller, the peer or the reply did not come (gone, unreachable, timed out)

EPILOG = (
    "ARGS is JSON: a list is the positional arguments, an object the keyword arguments, anything else "
    "the one argument. --bg submits the call to the jobs service (mesh serve jobs) and prints its job id. "
    "Exit codes: 0 done, 1 the callback raised, 2 bad usage or arguments, 3 unknown callback, "
    "4 controller or peer unreachable, gone, or the call timed out."
)


def add_parser(commands: Any) -> None:
    """Add ``mesh call`` to ``commands`` (the ``mesh`` command's subcommands)."""
    call = commands.add_parser("call", help="call a callback of the mesh and print its result as JSON", epilog=EPILOG)
    call.add_argument("callback", metavar="NAME", help="the callback's name (dotted names too: kv.get)")
    call.add_argument("args", metavar="ARGS", nargs="?", help="its arguments as JSON (default: none)")
    call.add_argument("--receiver", metavar="NODE", help="call the node of this name, not the least busy provider")
    call.add_argument("--bg", action="store_true", help="submit it as a job of the jobs service; print the job id")
    call.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the result (default 30)")
    call.add_argument("--wait", type=float, default=3.0, help="seconds to wait for a provider to be seen (default 3)")
    add_node_arguments(call)
    call.set_defaults(run=run)


def arguments(text: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's ``(args, kwargs)`` from the ARGS JSON.

    Raises:
        UsageError: ``text`` is not JSON.
    """
    if text is None:
        return (), {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"ARGS is not JSON ({exc}): {text!r}; e.g. '[1, 2]' or '{{\"key\": \"a\"}}'") from exc
    if isinstance(value, list):
        return tuple(value), {}
    if isinstance(value, dict):
        return (), value
    return (value,), {}


def shown(value: Any) -> str:
    """``value`` as JSON, or its ``repr`` when it is not JSON-able."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def run(options: argparse.Namespace) -> int:
    """Carry out ``mesh call``; the exit code."""
    try:
        args, kwargs = arguments(options.args)
        if options.bg and options.receiver:
            raise UsageError("--bg hands the call to the jobs service, which picks the worker: drop --receiver")
        if options.verbose:
            configure_logging("DEBUG" if options.verbose > 1 else "INFO", json_lines=options.log_json)
        name = options.name or f"mesh-call-{secrets.token_hex(3)}"
        with Global(name, **node_settings(options)) as g:
            print(shown(_call(g, options, args, kwargs)), flush=True)
    except MeshError as exc:
        return _failed(options.callback, exc)
    except Exception as exc:
        # Not the mesh's: the callback raised it, and it came back as its own type.
        print(f"mesh call {options.callback}: the callback raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_RAISED
    return 0


def _call(g: Global, options: argparse.Namespace, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    wanted = "jobs.submit" if options.bg else options.callback
    # Not found in time: the call below says who offers what.
    with contextlib.suppress(CallTimeout):
        g.wait_function(wanted, timeout=options.wait)
    if options.bg:
        job = Jobs(g).submit(options.callback, *args, **kwargs) & FG(timeout=options.timeout)
        return {"job": job}
    head, *rest = options.callback.split(".")
    remote = getattr(g.call, head)
    for part in rest:
        remote = getattr(remote, part)
    return remote(*args, **kwargs) & FG(timeout=options.timeout, receiver=options.receiver)


def _failed(callback: str, exc: MeshError) -> int:
    """Say why the call failed, on stderr; the exit code."""
    print(f"mesh call {callback}: {type(exc).__name__}: {exc}", file=sys.stderr)
    if isinstance(exc, BadArguments | UsageError):
        return EXIT_USAGE
    if isinstance(exc, UnknownCallback):
        return EXIT_UNKNOWN
    if isinstance(exc, TransportError | CallTimeout | NodeStopped):
        return EXIT_UNREACHABLE
    return EXIT_RAISED
