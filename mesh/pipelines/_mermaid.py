"""A pipeline's graph as a mermaid flowchart, drawn as the seed's README draws it."""

from __future__ import annotations

from collections.abc import Sequence

from ._graph import NodeSpec


def mermaid(specs: Sequence[NodeSpec]) -> str:
    """``graph LR;`` and one ``a((a))-->b((b));`` line per edge; a node without edges stands alone."""
    lines = ["graph LR;"]
    for spec in specs:
        lines += [f"    {spec.name}(({spec.name}))-->{dest}(({dest}));" for dest in spec.dests]
    lines += [f"    {spec.name}(({spec.name}));" for spec in specs if not spec.dests and not spec.sources]
    return "\n".join(lines)
