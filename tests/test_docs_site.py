"""The docs site (mkdocs.yml): its generated reference covers exactly the public names, its nav only pages that exist.

`.ci/run` builds the site with ``mkdocs build --strict``; these checks need no mkdocs.
"""

from __future__ import annotations

import re
from pathlib import Path

import mesh

ROOT = Path(__file__).resolve().parent.parent


def test_the_reference_page_documents_every_public_name() -> None:
    reference = (ROOT / "docs" / "reference.md").read_text()
    assert re.findall(r"^::: mesh\.(\w+)$", reference, flags=re.M) == mesh.__all__


def test_the_nav_lists_only_pages_that_exist() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    nav = config.split("\nnav:\n", 1)[1].split("\n\n", 1)[0].split("\nvalidation:", 1)[0]
    pages = re.findall(r"^  - [^:]+: (\S+\.md)$", nav, flags=re.M)
    assert "index.md" in pages and "api.md" in pages
    for page in pages:
        assert (ROOT / "docs" / page).is_file(), page
