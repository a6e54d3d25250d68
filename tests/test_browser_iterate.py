"""What a person sees of the iterate loop and the optimizer, in JupyterLab and Notebook 7 (issues #37, #38):
the grid's diff with its changed verdicts and values, a source diff, and the optimizer's frontier table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from baml_magic import local_llm
from tests._jupyter import CHROMIUM, CHROMIUM_FLAGS, cell, jupyter_server, run_cell, shot, write_notebook
from tests.test_iterate import classifier

ARTIFACTS = Path(__file__).parent / "artifacts"
CELLS = [
    "%load_ext baml_magic",
    "%%baml\n" + classifier("billing"),
    "%baml test",
    "%%baml\n" + classifier("technical"),
    "%baml test --diff",
    "%baml diff Classify",
    "%baml optimize Classify --trials 2 --max-evals 12",
]

pytestmark = pytest.mark.skipif(os.environ.get("BAML_MAGIC_SKIP_BROWSER") == "1",
                                reason="BAML_MAGIC_SKIP_BROWSER=1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    llm = local_llm.start(tps=400, words=12)
    root = tmp_path_factory.mktemp("iterate")
    for name in ("lab.ipynb", "nb7.ipynb"):
        write_notebook(root / name, CELLS)
    try:
        with jupyter_server(root, tmp_path_factory.mktemp("iterate_server"),
                            {"LOCAL_LLM_BASE_URL": llm.base_url}) as (url, token):
            yield url, token
    finally:
        llm.stop()


@pytest.mark.parametrize("app", ["lab", "nb7"])
def test_the_diff_and_the_optimizer_render_in_the_notebook(server: tuple[str, str], app: str) -> None:
    from playwright.sync_api import sync_playwright

    url, token = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(f"{url}/{'lab/tree/lab.ipynb' if app == 'lab' else 'notebooks/nb7.ipynb'}?token={token}")
        cell(page, 0).locator(".jp-InputPrompt").wait_for(timeout=60_000)
        waits = {1: "text=Classify(text: str) -> Category", 2: ".baml-magic-grid-result",
                 3: "text=Classify(text: str) -> Category", 4: ".baml-magic-diff",
                 5: ".baml-magic-version-diff", 6: ".baml-magic-optimize[data-status='done']"}
        for index in range(len(CELLS)):
            run_cell(page, index)
            if index in waits:
                cell(page, index).locator(waits[index]).last.wait_for(timeout=120_000)
        diff = cell(page, 4).locator(".baml-magic-diff")
        assert diff.locator("td[data-change='worse'][data-regression='true']").count() == 1
        assert diff.locator("td[data-change='better']").count() == 1
        assert "1 better · 1 worse · 0 same" in diff.inner_text()
        assert "BILLING" in diff.locator("del").first.inner_text()
        assert "TECHNICAL" in diff.locator("ins").first.inner_text()
        source = cell(page, 5).locator(".baml-magic-source-diff")
        assert "Is this a billing question?" in source.inner_text() and "technical" in source.inner_text()
        optimized = cell(page, 6).locator(".baml-magic-optimize[data-status='done']").last
        assert "★ #0" in optimized.inner_text() and "the best new candidate" in optimized.inner_text()
        cell(page, 4).evaluate("el => el.scrollIntoView({block: 'start'})")
        if app == "lab":  # the docs show JupyterLab's
            shot(page, ARTIFACTS / "15-iterate-diff-lab.png", docs="iterate-diff.png", cells=(4, 4))
        else:
            shot(page, ARTIFACTS / "15-iterate-diff-nb7.png", cells=(4, 4))
        cell(page, 6).evaluate("el => el.scrollIntoView({block: 'start'})")
        if app == "lab":
            shot(page, ARTIFACTS / "16-optimize-lab.png", docs="optimize.png", cells=(6, 6))
        else:
            shot(page, ARTIFACTS / "16-optimize-nb7.png", cells=(6, 6))
        browser.close()
