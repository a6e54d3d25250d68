"""Every page's code runs (issue #27): each page's Python and ``%%baml`` blocks, in order, in one shell per page,
against the offline model, in a folder of their own.

A block right after ``<!-- not run: REASON -->`` is skipped and must say why (a real key, a fragment of a
block above); ``bash`` blocks are the README's commands, which CI runs itself; ``text`` blocks are output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from baml_magic import testing

DOCS = Path(__file__).resolve().parent.parent / "docs"
_FENCE = re.compile(r"(?:<!-- not run: (?P<why>[^>]*?) -->\n)?^```(?P<lang>\w*)[^\n]*\n(?P<code>.*?)^```\s*$",
                    re.S | re.M)


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    why: str | None


def blocks(text: str) -> list[Block]:
    return [Block(m.group("lang"), m.group("code"), m.group("why")) for m in _FENCE.finditer(text)]


def _runnable(block: Block) -> bool:
    return block.why is None and (block.lang == "python" or (not block.lang and block.code.startswith("%%baml")))


def test_every_block_is_code_that_runs_or_says_why_not() -> None:
    for page in sorted(DOCS.glob("*.md")):
        for block in blocks(page.read_text()):
            if block.why is not None:
                assert block.why.strip(), f"{page.name}: a block not run must say why"
            elif block.lang in ("bash", "text"):
                continue
            else:
                assert _runnable(block), f"{page.name}: a block that is neither code nor marked: {block.code[:60]!r}"


def test_every_picture_a_page_shows_is_a_browser_test_s_screenshot() -> None:
    tests = "".join(p.read_text() for p in (DOCS.parent / "tests").glob("test_*.py"))
    pictures = re.compile(r"\]\(images/([\w.-]+\.png)\)")
    shown = {name for page in DOCS.glob("*.md") for name in pictures.findall(page.read_text())}
    assert shown, "the pages show pictures"
    for name in shown:
        data = (DOCS / "images" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, f"{name} is a real screenshot"
        assert f'docs="{name}"' in tests, f"{name} is taken by a browser test (make screenshots)"


PAGES = [p for p in sorted(DOCS.glob("*.md")) if any(_runnable(b) for b in blocks(p.read_text()))]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_page_s_code_runs_against_the_offline_model(page: Path, shell: testing.TestingShell, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ran = 0
    for block in blocks(page.read_text()):
        if _runnable(block):
            shell.run_cell(block.code)  # raises the cell's error: a page whose code fails fails here
            ran += 1
    assert ran and not shell.user_ns.get("_exit_code")
