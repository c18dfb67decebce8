"""``mesh pipeline show MODULE:OBJECT``: print a pipeline's mermaid diagram.

OBJECT is a :class:`Plumber` or the graph dict one is built from; it is drawn without running it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

from mesh import UsageError

from ._graph import NodeSpec, read_graph
from ._mermaid import mermaid
from ._plumber import Plumber
from ._report import edges_of


def add_parser(commands: Any) -> None:
    """Add ``pipeline show`` to the ``mesh`` command line's subcommands."""
    pipeline = commands.add_parser("pipeline", help="show a pipeline (mesh.pipelines)")
    actions = pipeline.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print a pipeline's mermaid diagram")
    show.add_argument("target", metavar="MODULE:OBJECT", help="a Plumber, or a graph dict, in an importable module")
    show.set_defaults(run=run_show)


def run_show(options: argparse.Namespace) -> int:
    """Print the diagram of ``options.target``; a clear message and exit code 2 when it cannot be drawn."""
    # As `python -m` does, so that MODULE may be a module of the current directory.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        print(diagram(load(options.target)))
    except UsageError as exc:
        print(f"mesh pipeline show: {exc}", file=sys.stderr)
        return 2
    return 0


def load(target: str) -> Any:
    """The object ``MODULE:OBJECT`` names (OBJECT may be dotted)."""
    module_name, _, path = target.partition(":")
    if not module_name or not path:
        raise UsageError(f"{target!r} is not MODULE:OBJECT (for example examples.pipelines_seed_graph:input_d)")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from exc
    for part in path.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no {path!r}") from None
    return found


def diagram(obj: Any) -> str:
    """The mermaid diagram of a Plumber or a graph dict."""
    return mermaid(_specs_of(obj))


def drawing(obj: Any) -> dict[str, Any]:
    """What ``mesh dashboard --pipeline`` shows of a Plumber or a graph dict: its mermaid text and
    its edges (``[source, target]`` pairs)."""
    specs = _specs_of(obj)
    return {"mermaid": mermaid(specs), "edges": [list(edge) for edge in edges_of(specs)]}


def _specs_of(obj: Any) -> list[NodeSpec]:
    if isinstance(obj, Plumber):
        return obj.specs
    if isinstance(obj, Mapping):
        return read_graph(obj)
    raise UsageError(f"a {type(obj).__name__} is neither a Plumber nor a pipeline's graph dict")
