"""BAML in the notebook editor, in a real browser: highlighting and errors as you type (issue #18).

One Jupyter server serves both JupyterLab (/lab) and Notebook 7 (/notebooks); the same tests run
in each. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from baml_magic import local_llm
from baml_magic.engine.v0 import V0Project
from baml_magic.engine.v1 import V1Project
from baml_magic.notebook._check import check_cell
from baml_magic.sources._source import cell_source
from tests._jupyter import CHROMIUM, CHROMIUM_FLAGS, cell, jupyter_server, run_cell, shot, write_notebook
from tests.test_browser import ARTIFACTS

CLIENT_CELL = ('%%baml\nclient<llm> Slow {\n  provider "openai-generic"\n  options {\n'
               '    base_url env.LOCAL_LLM_BASE_URL\n    model "local?tps=10&words=40"\n  }\n}\n'
               'function SlowPoem(topic: string) -> string {\n  client Slow\n  prompt #"A poem about {{ topic }}"#\n}')
BAML_CELL = ('%%baml\nclass Person {\n  name string\n  age int\n}\n'
             'function Greet(p: Person) -> string {\n  client Slow\n  prompt #"Say hello to {{ p.name }}"#\n}')
CELLS = ["%load_ext baml_magic", CLIENT_CELL, BAML_CELL, "total = sum(range(10))  # a Python cell",
         'SlowPoem("the sea")', "print('Greet' in dir(), 'Greeting' in dir())"]

pytestmark = pytest.mark.skipif(os.environ.get("BAML_MAGIC_SKIP_BROWSER") == "1",
                                reason="BAML_MAGIC_SKIP_BROWSER=1")


def test_the_kernel_check_places_baml_s_messages_and_binds_nothing() -> None:
    project = V0Project()
    project.update([cell_source("clients", "cell In[1]", CLIENT_CELL.split("\n", 1)[1])])
    before = dict(project.sources), project.compiled
    [mark] = check_cell(project, "c", BAML_CELL.replace("name string", "name strin"))
    assert (mark.line, mark.start, mark.end, mark.severity) == (3, 7, 12, "error") and "strin" in mark.message
    assert check_cell(project, "c", BAML_CELL) == []
    assert (dict(project.sources), project.compiled) == before, "checking binds and compiles nothing of the session's"
    assert check_cell(project, "c", "%%baml\nclass {")[0].line == 2, "half-typed text is an error on its line"
    assert check_cell(project, "c", "print(1)") == []


@pytest.mark.slow  # two v1 compiles in child processes, a second each
def test_a_v1_cell_is_checked_by_v1_with_the_v1_sources_around_it() -> None:
    project = V1Project()
    project.sources["cell:lib"] = cell_source("lib", "cell In[1]", "function Double(n: int) -> int {\n  n * 2\n}\n")
    [mark] = check_cell(project, "c", "%%baml --engine v1\nfunction Four() -> int {\n  Double(nope)\n}\n")
    assert (mark.line, mark.severity, mark.message) == (3, "error", "unresolved name: `nope`")
    assert mark.start == len("  Double(") and mark.end == mark.start + 4
    assert check_cell(project, "c", "%%baml --engine v1\nfunction Four() -> int {\n  Double(2)\n}\n") == [], \
        "a v1 cell is not read as v0, and sees the other v1 cells"
    assert project.compiled is None, "checking compiles nothing of the session's"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, local_llm.LocalLLM]]:
    """A Jupyter server with JupyterLab and Notebook 7; yields its URL, token and the offline model."""
    llm = local_llm.start()
    root = tmp_path_factory.mktemp("editor")
    (root / "people.baml").write_text(BAML_CELL.split("\n", 1)[1] + "\n")
    for name in ("lab.ipynb", "nb7.ipynb"):
        write_notebook(root / name, CELLS)
    try:
        with jupyter_server(root, tmp_path_factory.mktemp("editor_server"), {"LOCAL_LLM_BASE_URL": llm.base_url}) \
                as (url, token):
            yield url, token, llm
    finally:
        llm.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _output(page, index: int, text: str, timeout: float = 60_000) -> None:
    cell(page, index).locator(".jp-OutputArea").get_by_text(text).first.wait_for(timeout=timeout)


def _line_end(page, index: int, text: str) -> None:
    """Put the cursor at the end of the cell's line holding ``text``."""
    cell(page, index).locator(".cm-line", has_text=text).first.click()
    page.keyboard.press("End")


@pytest.mark.parametrize("app", ["lab", "nb7"])
def test_baml_cells_are_highlighted_and_errors_show_as_you_type(server, browser, app: str) -> None:
    url, token, llm = server
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    path = "lab/tree/lab.ipynb" if app == "lab" else "notebooks/nb7.ipynb"
    page.goto(f"{url}/{path}?token={token}")
    baml = cell(page, 2)
    baml.locator(".cm-editor.baml-magic-cell").wait_for(timeout=60_000)
    keyword = baml.locator(".tok-keyword", has_text="class").first
    keyword.wait_for(timeout=10_000)
    assert baml.locator(".tok-typeName", has_text="Person").count() >= 1
    python = cell(page, 3)
    assert python.locator(".cm-editor.baml-magic-cell").count() == 0 and python.locator(".tok-keyword").count() == 0
    page.screenshot(path=str(ARTIFACTS / f"11-editor-highlight-{app}.png"))

    for index, ready in ((0, None), (1, "SlowPoem(topic: str) -> str"), (2, "Greet(p: Person) -> str")):
        run_cell(page, index)
        if ready:
            _output(page, index, ready)
    # Checked before the client's cell ran, the function's cell may have said "Client Slow not found": once
    # the cells have run it is checked again, and clean.
    page.wait_for_function("el => !el.querySelector('.cm-lintRange-error')", arg=baml.element_handle(),
                           timeout=10_000)

    _line_end(page, 2, "name string")
    page.keyboard.press("Backspace")
    typed = time.monotonic()
    underline = baml.locator(".cm-lintRange-error")
    underline.first.wait_for(timeout=5_000)
    assert time.monotonic() - typed < 2.0, "the error shows within two seconds of the pause"
    assert [u.inner_text() for u in underline.all()] == ["strin"], "only the new error: none left from before"
    underline.first.hover()
    tooltip = page.locator(".cm-tooltip-lint, .cm-diagnostic").first
    tooltip.wait_for(timeout=5_000)
    assert "strin" in tooltip.inner_text() and "does not exist" in tooltip.inner_text()
    shot(page, ARTIFACTS / f"12-editor-error-{app}.png", docs="editor-error.png" if app == "nb7" else None)
    page.keyboard.press("g")
    page.wait_for_function("el => !el.querySelector('.cm-lintRange-error')", arg=baml.element_handle(),
                           timeout=5_000)

    # A check never interrupts a running cell, and never binds what it checks.
    run_cell(page, 4)
    cell(page, 4).locator(".baml-magic-body-widget, .baml-magic-view").first.wait_for(timeout=30_000)
    _line_end(page, 2, "function Greet")
    page.keyboard.press("Home")
    for _ in range(len("function Greet")):
        page.keyboard.press("ArrowRight")
    page.keyboard.type("ing")  # "function Greeting(...": a rename, typed while the poem streams
    _line_end(page, 2, "age int")
    page.keyboard.press("Backspace")  # "age in": an error while the kernel is busy
    started = time.monotonic()
    cell(page, 4).locator(".baml-magic-view[data-status='done']").wait_for(timeout=60_000)
    assert llm.requests()[-1]["outcome"] == "completed", "the streaming call ran to its end"
    baml.locator(".cm-lintRange-error").first.wait_for(timeout=10_000)
    assert time.monotonic() - started < 30
    run_cell(page, 5)
    _output(page, 5, "True False")
    page.close()


def test_a_baml_file_opens_in_the_editor_as_baml(server, browser) -> None:
    url, token, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/lab/workspaces/baml-file/tree/people.baml?reset&token={token}")  # a workspace of its own
    editor = page.locator(".jp-FileEditor .cm-content")
    editor.wait_for(timeout=60_000)
    editor.locator(".cm-line", has_text="class Person").first.wait_for(timeout=10_000)
    page.locator(".jp-StatusBar-Widget", has_text="BAML").first.wait_for(timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "13-editor-baml-file.png"))
    colours = page.evaluate("""() => [...new Set([...document.querySelectorAll('.jp-FileEditor .cm-line span')]
        .map(s => getComputedStyle(s).color))]""")
    assert len(colours) >= 3, f"keywords, types and strings coloured by BAML's grammar: {colours}"
    page.close()
