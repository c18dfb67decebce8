"""The test suite's own layout: tests/ holds test modules and conftest; helpers live in tests/_support/."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUPPORT = TESTS / "_support"
NOT_TESTS = {"__init__.py", "conftest.py"}


def imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (``from tests import conftest`` counts as ``tests.conftest``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return found


def imports_conftest(path: Path) -> bool:
    return any("conftest" in name.split(".") for name in imported_modules(path))


def test_only_test_modules_live_directly_in_tests() -> None:
    helpers = sorted(
        path.name for path in TESTS.glob("*.py") if path.name not in NOT_TESTS and not path.name.startswith("test_")
    )
    assert helpers == [], f"move these helpers to tests/_support/: {helpers}"


def test_no_test_module_imports_conftest() -> None:
    offenders = sorted(
        str(path.relative_to(TESTS))
        for path in [*TESTS.glob("*.py"), *SUPPORT.rglob("*.py")]
        if path.name != "conftest.py" and imports_conftest(path)
    )
    assert offenders == [], f"import helpers from tests._support, not conftest: {offenders}"


def test_the_checks_see_a_conftest_import_in_every_spelling(tmp_path: Path) -> None:
    spellings = [
        "from tests.conftest import Proc",
        "import tests.conftest",
        "from tests import conftest",
        "import conftest",
    ]
    for spelling in spellings:
        module = tmp_path / "test_x.py"
        module.write_text(f"def f() -> None:\n    {spelling}\n")
        assert imports_conftest(module), spelling
    module.write_text("from tests._support.proc import Proc\n")
    assert not imports_conftest(module)


def test_support_is_a_package_without_tests() -> None:
    assert (SUPPORT / "__init__.py").is_file()
    assert sorted(path.name for path in SUPPORT.glob("test_*.py")) == []
