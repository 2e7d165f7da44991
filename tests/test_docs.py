"""The README and the pages in docs/: every relative link resolves, and every benchmark result is cited from one of
them (benchmarks/results/*.json is where speed and quality figures live; an uncited one is a figure nobody finds)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO_ROOT).as_posix())
def test_relative_links_resolve(page):
    targets = [t.split("#")[0] for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:", t)]
    missing = [t for t in targets if t and not (page.parent / t).exists()]
    assert targets and not missing, f"{page.name} links to missing files: {missing}"


def test_every_benchmark_result_is_cited():
    text = "\n".join(page.read_text() for page in PAGES)
    uncited = [p.name for p in sorted((REPO_ROOT / "benchmarks" / "results").glob("*.json")) if p.name not in text]
    assert not uncited, f"results cited from neither README.md nor docs/: {uncited}"
