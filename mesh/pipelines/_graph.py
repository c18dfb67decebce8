"""The pipeline's graph dict, read and checked: which node feeds which, and how each node takes its inputs.

The dict is the seed's::

    {
        'nodes': {'name': {'coro': ..., 'args': {...}, 'properties': {'aggregate_inputs': bool},
                           'node': 'w1'}, ...},
        'graph': {'name': ('next', ...) or None, ...},
    }

A node's inputs are ordered as its sources stand in ``graph``; an aggregated node takes one item from
each source per call, a non-aggregated one takes items from all of them as they come. A node with
``'node'`` runs on that mesh node, where ``coro`` names what the node serves (``serve_processor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mesh import UsageError

NODE_KEYS = frozenset({"coro", "args", "properties", "node"})
PROPERTIES = frozenset({"aggregate_inputs"})


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph: its coroutine's key for ``coro_map``, keyword arguments and wiring."""

    name: str
    coro: Any
    args: Mapping[str, Any]
    aggregate_inputs: bool
    sources: tuple[str, ...]
    dests: tuple[str, ...]
    node: str | None
    """The mesh node the processor runs on (None: this process); its ``coro`` is then a callback name there."""


def read_graph(input_d: Mapping[str, Any]) -> list[NodeSpec]:
    """The nodes of ``input_d`` in the order of its ``nodes``; a malformed dict raises UsageError naming the fault."""
    if not isinstance(input_d, Mapping) or not {"nodes", "graph"} <= input_d.keys():
        raise UsageError("a pipeline is a dict with the keys 'nodes' and 'graph'")
    nodes, graph = input_d["nodes"], input_d["graph"]
    if set(nodes) != set(graph):
        raise UsageError(
            "'nodes' and 'graph' must name the same nodes: "
            f"only in 'nodes': {sorted(set(nodes) - set(graph))}, only in 'graph': {sorted(set(graph) - set(nodes))}"
        )
    dests = {name: _dests_of(name, graph[name], nodes) for name in graph}
    _refuse_cycles(dests)
    return [_spec(name, nodes[name], tuple(src for src in graph if name in dests[src]), dests[name]) for name in nodes]


def _dests_of(name: str, dests: Any, nodes: Mapping[str, Any]) -> tuple[str, ...]:
    if dests is None:
        return ()
    if isinstance(dests, str) or not all(isinstance(d, str) for d in dests):
        raise UsageError(f"graph[{name!r}] must be a tuple of node names or None, not {dests!r}")
    unknown = [d for d in dests if d not in nodes]
    if unknown:
        raise UsageError(f"graph[{name!r}] names nodes that 'nodes' does not define: {unknown}")
    if len(set(dests)) != len(dests):
        raise UsageError(f"graph[{name!r}] names a node twice: {list(dests)}")
    return tuple(dests)


def _refuse_cycles(dests: Mapping[str, tuple[str, ...]]) -> None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise UsageError(f"the pipeline's graph has a cycle: {cycle}")
        if name not in done:
            for nxt in dests[name]:
                visit(nxt, [*path, name])
            done.add(name)

    for name in dests:
        visit(name, [])


def _spec(name: str, node: Any, sources: tuple[str, ...], dests: tuple[str, ...]) -> NodeSpec:
    if not isinstance(node, Mapping) or "coro" not in node:
        raise UsageError(f"nodes[{name!r}] must be a dict with a 'coro' key, not {node!r}")
    unknown = set(node) - NODE_KEYS
    if unknown:
        raise UsageError(f"nodes[{name!r}] has unknown keys {sorted(unknown)}; known: {sorted(NODE_KEYS)}")
    properties = node.get("properties") or {}
    unknown = set(properties) - PROPERTIES
    if unknown:
        raise UsageError(
            f"nodes[{name!r}]['properties'] has unknown keys {sorted(unknown)}; known: {sorted(PROPERTIES)}"
        )
    args = node.get("args") or {}
    if not isinstance(args, Mapping):
        raise UsageError(f"nodes[{name!r}]['args'] must be a dict of keyword arguments, not {args!r}")
    aggregate = properties.get("aggregate_inputs", True)
    where = node.get("node")
    if where is not None:
        if not isinstance(where, str) or not where:
            raise UsageError(f"nodes[{name!r}]['node'] must be a mesh node's name, not {where!r}")
        if not isinstance(node["coro"], str):
            raise UsageError(
                f"nodes[{name!r}] runs on node {where!r}: its 'coro' must be the name it is served as there"
            )
        if not sources:
            raise UsageError(
                f"nodes[{name!r}] is an input node: it runs in the pipeline's own process, not on {where!r}"
            )
    return NodeSpec(name, node["coro"], dict(args), bool(aggregate), sources, dests, where)
