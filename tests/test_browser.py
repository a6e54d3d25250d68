"""What a person sees: real JupyterLab in Debian's chromium, driven by Playwright.

Screenshots go to tests/artifacts/ (ignored by git): the live view a second apart while it
streams, the cancelled view after the toolbar's interrupt button, and the playground.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from baml_magic import local_llm
from baml_magic.testing import wait_until
from tests._jupyter import CHROMIUM, CHROMIUM_FLAGS, cell, jupyter_server, run_cell, shot, wait_changed, write_notebook

ARTIFACTS = Path(__file__).parent / "artifacts"

CELLS = [
    "%load_ext baml_magic",
    '%%baml\nclient<llm> Fast {\n  provider "openai-generic"\n  options {\n    base_url env.LOCAL_LLM_BASE_URL\n'
    '    model "local?tps=12&words=60"\n  }\n}\nclass Story {\n  title string\n  body string\n}\n'
    'function GenerateStory(prompt: string) -> Story {\n  client Fast\n'
    '  prompt #"Write a short story about {{ prompt }}. {{ ctx.output_format }}"#\n}',
    'story = GenerateStory("a lighthouse keeper")',
    'GenerateStory("a storm at sea")',
    'print("next cell ran:", 6 * 7)',
    "GenerateStory.playground()",
    '%%baml\nfunction DescribePhoto(photo: image) -> string {\n  client Fast\n'
    '  prompt #"{{ _.role(\"user\") }} Describe {{ photo }}"#\n}',
    "DescribePhoto.playground()",
    "%%baml\n" + "".join(
        f'client<llm> {name} {{\n  provider "openai-generic"\n  options {{\n    base_url env.LOCAL_LLM_BASE_URL\n'
        f'    model "local?seed={seed}&seconds=1"\n  }}\n}}\n' for name, seed in (("Alpha", 1), ("Beta", 2),
                                                                                       ("Gamma", 3)))
    + 'class Tally {\n  n int\n  label string\n}\nfunction Tell(text: string) -> Tally {\n  client Alpha\n'
    '  prompt #"Count {{ text }}. {{ ctx.output_format }}"#\n}\n'
    + "".join(f'test T{i} {{\n  functions [Tell]\n  args {{ text "item {i}" }}\n'
              f'  @@assert(small, {{{{ this.n < {40 + 10 * i} }}}})\n}}\n' for i in range(4)),
    "%baml test --clients Alpha,Beta,Gamma --repeat 5 --concurrency 6",
    "%%baml --engine v1\nclient SlowV1 = openai.GenericClient.new(model = \"local?tps=12&words=60\", "
    "base_url = env.LOCAL_LLM_BASE_URL)\nclass Tale {\n  title: string,\n  body: string,\n}\n"
    "function SlowTale(topic: string) -> Tale {\n  client: SlowV1\n"
    "  prompt: `Write a story about ${topic}. ${ctx.output_format()}`\n}",
    'SlowTale("a lighthouse keeper")',
]
PHOTO = Path(__file__).parent.parent / "notebooks" / "receipt.png"

pytestmark = pytest.mark.skipif(os.environ.get("BAML_MAGIC_SKIP_BROWSER") == "1",
                                reason="BAML_MAGIC_SKIP_BROWSER=1")


@pytest.fixture(scope="module")
def slow_llm() -> Iterator[local_llm.LocalLLM]:
    server = local_llm.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, slow_llm: local_llm.LocalLLM) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 with a token, serving a folder with the demo notebook; yields its URL."""
    assert shutil.which("jupyter-lab") or Path(sys.executable).with_name("jupyter-lab").exists(), \
        "JupyterLab is missing: install the test extra (make test does)"
    root = tmp_path_factory.mktemp("lab")
    write_notebook(root / "demo.ipynb", CELLS)
    with jupyter_server(root, tmp_path_factory.mktemp("lab_server"), {"LOCAL_LLM_BASE_URL": slow_llm.base_url}) \
            as (url, token):
        yield f"{url}/lab/tree/demo.ipynb?token={token}"


@pytest.fixture(scope="module")
def page(lab: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: make test installs it (apt-get install chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(lab)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
        yield page
        browser.close()


def _idle(page, timeout: float = 90_000) -> None:  # a busy machine waits longer, never fails sooner
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout)


LIVE_BODY = ".baml-magic-live .baml-magic-body"


def _streaming_body(page, index: int, selector: str = LIVE_BODY) -> str:
    """The live view's body text in a cell, once it shows some 40 characters."""
    # The live view is one output updated in place: each update is a new node, so read it by selector.
    cell(page, index).locator(f"{selector} .baml-string").first.wait_for(timeout=30_000)
    return wait_changed(page, index, selector, "", grown_by=40)


def test_live_view_grows_then_interrupt_cancels_and_next_cell_runs(page, slow_llm) -> None:
    run_cell(page, 0)
    _idle(page)
    run_cell(page, 1)
    page.wait_for_selector("text=GenerateStory(prompt: str) -> Story", timeout=60_000)
    _idle(page)

    run_cell(page, 2)
    first = _streaming_body(page, 2)
    page.screenshot(path=str(ARTIFACTS / "1-streaming-a.png"))
    # Some 20 characters later, and still live: the same view grew in place.
    second = wait_changed(page, 2, LIVE_BODY, first, grown_by=20)
    shot(page, ARTIFACTS / "2-streaming-b.png", docs="live-view.png", cells=(1, 2))
    assert second.startswith(first[:20]), (first, second)
    cell(page, 2).locator(".baml-magic-view[data-status='done']").wait_for(timeout=60_000)

    run_cell(page, 3)
    _streaming_body(page, 3)
    page.locator("[data-command='notebook:interrupt-kernel']").first.click()
    interrupted = time.time()
    cancelled = cell(page, 3).locator(".baml-magic-view[data-status='cancelled']")
    cancelled.wait_for(timeout=10_000)
    assert "cancelled" in cancelled.inner_text() and cancelled.locator(".baml-string").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "3-cancelled.png"))
    record = wait_until(lambda: slow_llm.requests()[-1].get("ended") and slow_llm.requests()[-1],
                        what="the server saw the request end")
    assert record["outcome"] == "client_closed" and record["ended"] - interrupted < 1.5
    _idle(page)
    run_cell(page, 4)
    cell(page, 4).locator("text=next cell ran: 42").wait_for(timeout=20_000)


def test_playground_run_then_stop(page, slow_llm) -> None:
    _idle(page)
    run_cell(page, 5)
    playground = cell(page, 5).locator(".baml-magic-playground")
    playground.wait_for(timeout=30_000)
    _idle(page)
    field = playground.locator(".baml-magic-field-prompt textarea")
    field.fill("a heron that counts stars")
    playground.locator("button.baml-magic-run").click()
    status = playground.locator(".baml-magic-status-widget")
    status.locator("[data-status='streaming']").wait_for(timeout=20_000)
    _streaming_body(page, 5, ".baml-magic-playground .baml-magic-body-widget")
    shot(page, ARTIFACTS / "4-playground-streaming.png", docs="playground.png", cells=(5, 5), full_page=True)
    playground.locator("button.baml-magic-stop").click()
    stopped = time.time()
    status.locator("[data-status='cancelled']").wait_for(timeout=10_000)
    playground.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "5-playground-stopped.png"), full_page=True)
    record = wait_until(lambda: slow_llm.requests()[-1].get("ended") and slow_llm.requests()[-1],
                        what="the server saw the request end")
    assert record["outcome"] == "client_closed" and record["ended"] - stopped < 1.5
    assert "a heron that counts stars" in playground.locator(".baml-magic-history").inner_text()


def test_playground_uploads_a_file_previews_it_and_runs(page, slow_llm) -> None:
    for index in (0, 1, 6):  # the extension and the client (again, when this test runs alone), the function
        _idle(page)
        run_cell(page, index)
    _idle(page)
    run_cell(page, 7)
    playground = cell(page, 7).locator(".baml-magic-playground")
    try:
        playground.wait_for(timeout=30_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "6-playground-media-opened.png"), full_page=True)
    _idle(page)
    with page.expect_file_chooser() as chooser:  # click the picker as a person does, then choose the file
        playground.locator(".baml-magic-field-photo button").first.click()
    chooser.value.set_files(str(PHOTO))
    preview = playground.locator(".baml-magic-preview img.baml-magic-media")
    preview.wait_for(timeout=20_000)
    assert preview.get_attribute("src").startswith("data:image/png;base64,")
    playground.locator("button.baml-magic-run").click()
    playground.locator(".baml-magic-status-widget [data-status='done']").wait_for(timeout=30_000)
    playground.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "7-playground-media-answered.png"), full_page=True)
    answer = playground.locator(".baml-magic-body-widget").inner_text()
    assert f"Received image/png, {PHOTO.stat().st_size} bytes" in answer, answer
    assert slow_llm.requests()[-1]["media"][0]["bytes"] == PHOTO.stat().st_size


GRID_WATCH = """(index) => {
    const node = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    window.gridDone = [];
    new MutationObserver(() => {
        const done = node.querySelectorAll(".baml-magic-grid .baml-grid-cell[data-state='done']").length;
        if (window.gridDone[window.gridDone.length - 1] !== done) window.gridDone.push(done);
    }).observe(node, {subtree: true, childList: true, attributes: true});
}"""


def test_the_evaluation_grid_fills_in_live_then_stays(page, slow_llm) -> None:
    for index in (0, 8):
        _idle(page)
        run_cell(page, index)
    _idle(page)
    page.evaluate(GRID_WATCH, 9)  # the page itself notes each count of done cells it draws, however late
    run_cell(page, 9)
    grid = cell(page, 9).locator(".baml-magic-grid")
    grid.locator(".baml-grid-cell[data-state='done']").first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "8-grid-filling-a.png"), full_page=True)
    final = cell(page, 9).locator(".baml-magic-grid[data-final='true']")
    final.wait_for(timeout=90_000)
    page.screenshot(path=str(ARTIFACTS / "9-grid-filling-b.png"), full_page=True)
    assert final.locator(".baml-grid-cell[data-state='done']").count() == 12
    drawn = page.evaluate("window.gridDone")
    assert [n for n in drawn if 0 < n < 12], f"the grid filled in live, not all at the end: {drawn}"
    _idle(page)
    shot(page, ARTIFACTS / "10-grid-final.png", docs="grid.png", cells=(9, 9), full_page=True)


def test_a_v1_cell_streams_into_the_same_live_view(page, slow_llm) -> None:
    for index in (0, 10):  # the extension (again, when this test runs alone), then the v1 cell
        _idle(page)
        run_cell(page, index)
    page.wait_for_selector("text=SlowTale(topic: str) -> Tale", timeout=60_000)
    _idle(page)
    run_cell(page, 11)
    first = _streaming_body(page, 11)
    wait_changed(page, 11, LIVE_BODY, first, grown_by=20)  # the v1 call's view grows while live
    shot(page, ARTIFACTS / "14-v1-streaming.png", docs="v1-live-view.png", cells=(10, 11))
    cell(page, 11).locator(".baml-magic-view[data-status='done']").wait_for(timeout=60_000)
    assert "title" in cell(page, 11).inner_text()
