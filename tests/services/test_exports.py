"""The public names of mesh.services and of each service package: sorted, with docstrings, in docs/services.md."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "services.md"


@pytest.mark.parametrize("package", ["mesh.services", "mesh.services.events", "mesh.services.jobs", "mesh.services.kv"])
def test_every_public_name_is_sorted_documented_and_has_a_docstring(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    reference = DOCS.read_text()
    for name in names:
        value = getattr(module, name)
        assert value.__doc__, f"{package}.{name} has no docstring"
        assert re.search(rf"`[^`]*\b{name}\b", reference), f"{package}.{name} is missing from docs/services.md"
