"""Issue #27: the documentation site builds strictly, every public name has a reference entry, and a person
can open it, search it and follow a link (Debian's chromium, driven by playwright)."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import baml_magic
from tests._jupyter import CHROMIUM, CHROMIUM_FLAGS

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def site() -> Path:
    """The built site (``make test`` builds it first; built here when it is missing)."""
    if not (SITE / "index.html").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "build_docs.sh")], check=True, cwd=ROOT)
    return SITE


def test_every_public_name_has_a_reference_entry(site: Path) -> None:
    reference = (site / "api" / "index.html").read_text()
    errors = (site / "errors" / "index.html").read_text()

    def documented(name: str) -> bool:
        if f'id="baml_magic.{name}"' in reference:
            return True  # baml-py's re-exported errors are documented on the errors page, by name
        return getattr(baml_magic, name).__module__.startswith("baml_py") and f'id="{name.lower()}"' in errors

    missing = [name for name in baml_magic.__all__ if not documented(name)]
    assert not missing, missing


def test_every_notebook_is_rendered_with_its_outputs(site: Path) -> None:
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        page = (site / "notebooks" / notebook.stem / "index.html").read_text()
        assert "jp-OutputArea" in page or "output_area" in page, f"{notebook.name} has no outputs on its page"


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def test_a_person_searches_the_site_and_follows_a_result(served: str, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(served + "/")
    assert "baml_magic" in page.title()
    page.click("input.md-search__input")
    page.keyboard.type("interrupt", delay=30)  # typed, as a person does: the search listens to keystrokes
    result = page.locator(".md-search-result__link").first
    result.wait_for(timeout=15_000)
    href = result.get_attribute("href")
    result.click()
    page.wait_for_load_state()
    assert href and page.url.split("#")[0] != served + "/", (href, page.url)
    assert "interrupt" in page.content().lower()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs_search_result.png"))
    page.close()


TASKS = {  # what a newcomer types, and the page whose first result should answer it
    "install": "install/",
    "interrupt": ("tutorial/", "how-it-works/"),
    "cost": ("real-providers/", "how-it-works/", "evaluation/", "api/"),  # api/: Fn.last.cost's own entry
    "VS Code": "editor/",
    "rate limit": "map-batch/",
}


@pytest.mark.parametrize("words", list(TASKS))
def test_searching_for_a_task_finds_the_page_that_does_it(served: str, browser: object, words: str) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(served + "/")
    page.click("input.md-search__input")
    page.keyboard.type(words, delay=30)
    first = page.locator(".md-search-result__link").first
    first.wait_for(timeout=15_000)
    href = first.get_attribute("href") or ""
    expected = TASKS[words]
    assert any(f"/{e}" in href or href.startswith(e) for e in ((expected,) if isinstance(expected, str) else
                                                                 expected)), (words, href)
    page.close()


def test_long_code_lines_wrap_instead_of_being_cut(served: str, browser: object) -> None:
    page = browser.new_page(viewport={"width": 900, "height": 900})  # type: ignore[attr-defined]
    page.goto(f"{served}/map-batch/")
    widths = page.eval_on_selector_all(".md-typeset pre > code", "els => els.map(e => [e.scrollWidth, e.clientWidth])")
    assert widths and all(scroll <= client + 1 for scroll, client in widths), widths
    page.close()
