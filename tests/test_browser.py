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
from tests._jupyter import CHROMIUM, CHROMIUM_FLAGS, cell, jupyter_server, run_cell, shot, write_notebook

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


def _streaming_body(page, index: int):
    """The live view's body of a cell, once it shows a string some 40 characters long."""
    # The live view is one output updated in place: each update is a new node, so read it by selector.
    body = cell(page, index).locator(".baml-magic-live .baml-magic-body")
    body.locator(".baml-string").first.wait_for(timeout=30_000)
    deadline = time.time() + 30
    while len(body.inner_text()) <= 40 and time.time() < deadline:
        time.sleep(0.1)
    return body


def test_live_view_grows_then_interrupt_cancels_and_next_cell_runs(page, slow_llm) -> None:
    run_cell(page, 0)
    _idle(page)
    run_cell(page, 1)
    page.wait_for_selector("text=GenerateStory(prompt: str) -> Story", timeout=60_000)
    _idle(page)

    run_cell(page, 2)
    body = _streaming_body(page, 2)
    first = body.inner_text()
    page.screenshot(path=str(ARTIFACTS / "1-streaming-a.png"))
    time.sleep(1.0)
    second = body.inner_text()
    shot(page, ARTIFACTS / "2-streaming-b.png", docs="live-view.png", cells=(1, 2))
    assert len(second) > len(first) and second.startswith(first[:20]), "the view's text grew within a second"
    cell(page, 2).locator(".baml-magic-view[data-status='done']").wait_for(timeout=60_000)

    run_cell(page, 3)
    live = cell(page, 3).locator(".baml-magic-live .baml-string")
    live.first.wait_for(timeout=30_000)
    time.sleep(0.5)
    page.locator("[data-command='notebook:interrupt-kernel']").first.click()
    interrupted = time.time()
    cancelled = cell(page, 3).locator(".baml-magic-view[data-status='cancelled']")
    cancelled.wait_for(timeout=10_000)
    assert "cancelled" in cancelled.inner_text() and cancelled.locator(".baml-string").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "3-cancelled.png"))
    time.sleep(0.2)
    record = slow_llm.requests()[-1]
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
    playground.locator(".baml-magic-body-widget .baml-string").first.wait_for(timeout=20_000)
    time.sleep(0.8)
    shot(page, ARTIFACTS / "4-playground-streaming.png", docs="playground.png", cells=(5, 5), full_page=True)
    playground.locator("button.baml-magic-stop").click()
    stopped = time.time()
    status.locator("[data-status='cancelled']").wait_for(timeout=10_000)
    time.sleep(0.3)
    playground.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "5-playground-stopped.png"), full_page=True)
    record = slow_llm.requests()[-1]
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


def test_the_evaluation_grid_fills_in_live_then_stays(page, slow_llm) -> None:
    for index in (0, 8):
        _idle(page)
        run_cell(page, index)
    _idle(page)
    run_cell(page, 9)
    grid = cell(page, 9).locator(".baml-magic-grid")
    grid.locator(".baml-grid-cell[data-state='done']").first.wait_for(timeout=30_000)
    first = grid.inner_text()
    page.screenshot(path=str(ARTIFACTS / "8-grid-filling-a.png"), full_page=True)
    time.sleep(1.0)
    second = grid.inner_text()
    page.screenshot(path=str(ARTIFACTS / "9-grid-filling-b.png"), full_page=True)
    assert first != second, "the grid filled in within a second"
    final = cell(page, 9).locator(".baml-magic-grid[data-final='true']")
    final.wait_for(timeout=90_000)
    assert final.locator(".baml-grid-cell[data-state='done']").count() == 12
    _idle(page)
    shot(page, ARTIFACTS / "10-grid-final.png", docs="grid.png", cells=(9, 9), full_page=True)


def test_a_v1_cell_streams_into_the_same_live_view(page, slow_llm) -> None:
    for index in (0, 10):  # the extension (again, when this test runs alone), then the v1 cell
        _idle(page)
        run_cell(page, index)
    page.wait_for_selector("text=SlowTale(topic: str) -> Tale", timeout=60_000)
    _idle(page)
    run_cell(page, 11)
    body = _streaming_body(page, 11)
    first = body.inner_text()
    time.sleep(1.0)
    second = body.inner_text()
    shot(page, ARTIFACTS / "14-v1-streaming.png", docs="v1-live-view.png", cells=(10, 11))
    assert len(second) > len(first), "the v1 call's view grew within a second"
    cell(page, 11).locator(".baml-magic-view[data-status='done']").wait_for(timeout=60_000)
    assert "title" in cell(page, 11).inner_text()
