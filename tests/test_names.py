"""Names in mesh/ with one meaning each, and docstrings that say what the code does now."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

MESH = Path(__file__).resolve().parent.parent / "mesh"
SOURCES = sorted(p for p in MESH.rglob("*.py") if "_proto" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _is_typevar(value: ast.expr | None) -> bool:
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "TypeVar"


def test_a_constant_is_defined_in_one_module_only() -> None:
    """Two modules defining one upper-case name (PROTOCOL_VERSION 3 and 1) give it two meanings."""
    defined: defaultdict[str, list[str]] = defaultdict(list)
    for path in SOURCES:
        for node in _tree(path).body:
            if isinstance(node, ast.Assign) and not _is_typevar(node.value):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            else:
                continue
            for name in names:
                if name.lstrip("_").isupper():
                    defined[name].append(str(path.relative_to(MESH)))
    assert {name: where for name, where in defined.items() if len(where) > 1} == {}


def test_no_module_function_has_the_name_of_a_method_beside_it() -> None:
    """``_wait`` was both ``Global._wait`` and a module function of ``mesh/api/_global.py`` doing another thing."""
    clashes = {}
    for path in SOURCES:
        tree = _tree(path)
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        methods = {
            m.name
            for c in tree.body
            if isinstance(c, ast.ClassDef)
            for m in c.body
            if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if functions & methods:
            clashes[str(path.relative_to(MESH))] = functions & methods
    assert clashes == {}


def test_encoded_arguments_are_never_compared_with_none() -> None:
    """A call that runs on this node has RUN_HERE for its arguments, not a None that means it silently."""
    found = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if (
                isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Name)
                and node.left.id == "encoded"
                and any(isinstance(c, ast.Constant) and c.value is None for c in node.comparators)
            ):
                found.append(f"{path.relative_to(MESH)}:{node.lineno}")
    assert found == []


HISTORY = re.compile(
    r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|\d+(st|nd|rd|th)) round\b"
    r"|\b\d+(\.\d+)? ?(us|ns)\b",
    re.IGNORECASE,
)


def test_no_benchmark_history_in_the_source() -> None:
    """Rounds and per-call timings belong in bench/README.md and commit messages, not in mesh/."""
    found = [
        f"{path.relative_to(MESH)}:{number}: {line.strip()}"
        for path in SOURCES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if HISTORY.search(line)
    ]
    assert found == []


def test_the_package_imports_each_module_once() -> None:
    """``mesh/__init__.py`` imports its public names in one block, one statement per module."""
    modules = [n.module for n in _tree(MESH / "__init__.py").body if isinstance(n, ast.ImportFrom)]
    assert len(modules) == len(set(modules))
