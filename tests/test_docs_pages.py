"""The documentation reads as a product (issue #36): installation first, then the tutorial, how-to guides,
reference and explanation; every page broken by subheadings, no wall of a paragraph; the reference pages
generated from the code, so they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from scripts import reference_pages

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MOST_BETWEEN_HEADINGS = 330  # words of prose between two headings (about 300)
MOST_IN_A_PARAGRAPH = 110


def _prose(text: str) -> list[list[str]]:
    """The page's sections (split at headings), each a list of paragraphs, code and HTML comments left out."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    sections: list[list[str]] = [[]]
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if not lines:
            continue
        if lines[0].startswith("#"):
            sections.append([])
            lines = lines[1:]
        if lines and not lines[0].startswith(("|", "!", ":::", "    ")):
            items: list[list[str]] = []  # a list's items are paragraphs of their own
            for line in lines:
                if not items or re.match(r"\s*(?:[-*]|\d+\.)\s", line):
                    items.append([])
                items[-1].append(line)
            sections[-1] += [" ".join(item) for item in items]
    return sections


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_a_page_has_a_heading_every_few_paragraphs_and_no_wall_of_text(page: Path) -> None:
    for section in _prose(page.read_text()):
        words = sum(len(p.split()) for p in section)
        assert words <= MOST_BETWEEN_HEADINGS, f"{page.name}: {words} words under one heading: {section[0][:80]!r}"
        for paragraph in section:
            assert len(paragraph.split()) <= MOST_IN_A_PARAGRAPH, f"{page.name}: a paragraph of " \
                f"{len(paragraph.split())} words: {paragraph[:80]!r}"


def test_the_navigation_reads_installation_tutorial_how_to_reference_explanation() -> None:
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    titles = [next(iter(entry)) for entry in nav]
    assert titles[:6] == ["Home", "Installation", "Tutorial", "How-to guides", "Reference", "Explanation"], titles
    listed = set(re.findall(r"([\w-]+\.md)", (ROOT / "mkdocs.yml").read_text()))
    assert {p.name for p in PAGES} <= listed, "every page is in the navigation"


def test_the_reference_pages_are_what_the_code_generates() -> None:
    for name, text in reference_pages.pages().items():
        assert (DOCS / name).read_text() == text, f"docs/{name} is stale: python scripts/reference_pages.py"


def test_every_error_troubleshooting_quotes_is_in_the_errors_reference() -> None:
    documented = set(re.findall(r"^## (\w+)$", (DOCS / "errors.md").read_text(), re.M))
    quoted = set(re.findall(r"`+(\w+(?:Error|Exception|Interrupt|Miss|Unavailable|Unsupported|NotFound|TooLong))[:`]",
                            (DOCS / "troubleshooting.md").read_text()))
    builtins = {name for name in quoted if hasattr(__import__("builtins"), name)}
    assert quoted and not quoted - documented - builtins, quoted - documented - builtins
