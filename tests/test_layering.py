"""The layers of docs/architecture.md: every import in mesh/ and controller/ runs the way its table allows.

The table is read from the document itself, so the two cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mesh", "controller")
SECTION = "## Layers and the direction of imports"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Layer:
    name: str
    patterns: tuple[str, ...]
    may_import: frozenset[str]
    """The layers this one may import (its own only when named), and modules (backquoted in the table)."""

    def holds(self, module: str) -> bool:
        return any(fnmatchcase(module, pattern) for pattern in self.patterns)


def layers_table(text: str) -> list[Layer]:
    """The rows of the table under ``SECTION``: layer | modules | may import."""
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    layers = []
    for row in rows:
        name, modules, allowed = (cell.strip() for cell in row.strip("|").split("|"))
        may_import = frozenset(a.strip().strip("`") for a in allowed.split(","))
        layers.append(Layer(name, tuple(re.findall(r"`([^`]+)`", modules)), may_import))
    return layers


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(source: str, module: str, is_package: bool) -> list[str]:
    """Every module of ours that ``source`` (the text of ``module``) imports, wherever the import stands."""
    package = (module if is_package else module.rpartition(".")[0]).split(".")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            base = ".".join(part for part in (base, node.module) if part)
            # `from package import name` imports the submodule when there is one, else the package.
            found += [f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names]
    return [name for name in found if name.split(".")[0] in PACKAGES]


def violations(module: str, targets: list[str], layers: list[Layer]) -> list[str]:
    """The imports of ``module`` that its layer's row does not allow."""
    (own,) = [layer for layer in layers if layer.holds(module)]
    wrong = []
    for target in targets:
        theirs = [layer.name for layer in layers if layer.holds(target)]
        if not (set(theirs) & own.may_import or any(fnmatchcase(target, p) for p in own.may_import)):
            wrong.append(f"{module} ({own.name}) imports {target} ({', '.join(theirs) or 'no layer'})")
    return wrong


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_every_module_is_in_exactly_one_layer() -> None:
    layers = layers_table(ARCHITECTURE.read_text())
    assert {layer.name for layer in layers} >= {
        "errors",
        "wire and transport",
        "membership and discovery",
        "node runtime",
        "public API",
        "services",
        "tools",
        "command line",
        "controller",
    }
    places = {module_name(p): [layer.name for layer in layers if layer.holds(module_name(p))] for p in our_modules()}
    assert {module: names for module, names in places.items() if len(names) != 1} == {}


def test_every_import_runs_the_way_the_layers_allow() -> None:
    layers = layers_table(ARCHITECTURE.read_text())
    wrong = []
    for path in our_modules():
        module = module_name(path)
        wrong += violations(module, imports_of(path.read_text(), module, path.name == "__init__.py"), layers)
    assert wrong == []


def test_the_check_sees_imports_in_functions_and_under_type_checking() -> None:
    source = """
from typing import TYPE_CHECKING
from ..wire import _transport
if TYPE_CHECKING:
    from controller import ControllerServer
def start():
    from ..cli import main
    import mesh.bench.cli
"""
    targets = imports_of(source, "mesh.api._global", is_package=False)
    assert sorted(targets) == ["controller", "mesh.bench.cli", "mesh.cli", "mesh.wire._transport"]
    layers = layers_table(ARCHITECTURE.read_text())
    assert violations("mesh.api._global", sorted(targets), layers) == [
        "mesh.api._global (public API) imports controller (controller)",
        "mesh.api._global (public API) imports mesh.bench.cli (tools)",
        "mesh.api._global (public API) imports mesh.cli (command line)",
    ]
    assert violations("mesh.wire._link", ["mesh.node._workers", "mesh.errors"], layers) == [
        "mesh.wire._link (wire and transport) imports mesh.node._workers (node runtime)"
    ]


def test_relative_imports_resolve_from_the_package() -> None:
    assert imports_of("from .. import Global\nfrom ..errors import MeshError", "mesh.testing._mesh", False) == [
        "mesh",
        "mesh.errors",
    ]
    assert imports_of("from ._service import X\nfrom .wire import _proto", "mesh", True) == [
        "mesh._service",
        "mesh.wire._proto",
    ]


# The modules a node is made of or drives know it by a small Protocol each, never as Node.
NODE_PARTS = (
    "node._outgoing",
    "node._serving",
    "node._linking",
    "wire._link",
    "wire._handshake",
    "node._schedule",
    "node._controller_client",
    "membership._departures",
    "node._discovering",
    "membership.discovery",
)


def source_of(module: str) -> str:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py").read_text()


def test_the_parts_of_a_node_do_not_import_the_node() -> None:
    importers = [
        name
        for name in NODE_PARTS
        if "mesh.node._node" in imports_of(source_of(f"mesh.{name}"), f"mesh.{name}", is_package=False)
    ]
    assert importers == []


def test_the_call_api_knows_a_session_not_the_global() -> None:
    """mesh.api._call is handed a Session (mesh.api._session); neither imports mesh.api._global, which imports them."""
    for name in ("mesh.api._call", "mesh.api._session"):
        imports = imports_of(source_of(name), name, is_package=False)
        assert "mesh.api._global" not in imports, f"{name} imports mesh.api._global"
