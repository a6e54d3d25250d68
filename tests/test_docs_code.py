"""Every page's code runs (issues #27 and #36): each page's Python and ``%%baml`` blocks, in order, in a new
kernel per page with nothing of the suite's set, against the offline model, in a folder of their own.

A block right after ``<!-- not run: REASON -->`` is skipped and must say why (a real key, a fragment of a
block above); ``bash`` blocks are the README's commands, which CI runs itself; ``text`` blocks are output.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

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


def test_a_page_that_uses_the_extension_starts_with_its_setup_cell() -> None:
    for page in PAGES:
        code = [b.code for b in blocks(page.read_text()) if _runnable(b)]
        if any("%baml" in c for c in code):
            assert "%load_ext baml_magic" in code[0], f"{page.name}: its first block is the one setup cell"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_page_s_code_runs_in_a_new_kernel_with_nothing_set(page: Path, tmp_path: Path) -> None:
    """Each page's blocks, in order, as a newcomer pastes them: a fresh kernel, none of the suite's settings, no
    line of ours before them (each page says its own setup)."""
    import nbformat
    from nbclient import NotebookClient

    code = [b.code for b in blocks(page.read_text()) if _runnable(b)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCAL_LLM", "BAML_MAGIC"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    # A cell that raises stops the run: the page's code failed, said with the cell's own error.
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=env)
    assert all(c.execution_count for c in nb.cells), "every block ran"
