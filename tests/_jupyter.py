"""A Jupyter server for the browser tests: JupyterLab (and Notebook 7) on 127.0.0.1 with a token, news off."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat

from baml_magic.testing import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]


DOC_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"


# The notebook's cells ``first``..``last`` (-1: to the end), where the page shows them: what a documentation
# picture is cropped to.
_CELLS = """([full, first, last]) => {
  const all = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
  const rects = all.slice(first, last < 0 ? all.length : last + 1).map(c => c.getBoundingClientRect())
    .filter(r => r.width > 0 && r.height > 0 && (full || (r.bottom > 0 && r.top < window.innerHeight)));
  if (!rects.length) return null;
  const dy = full ? window.scrollY : 0, dx = full ? window.scrollX : 0;
  return [Math.min(...rects.map(r => r.left)) + dx, Math.min(...rects.map(r => r.top)) + dy,
          Math.max(...rects.map(r => r.right)) + dx, Math.max(...rects.map(r => r.bottom)) + dy];
}"""


def shot(page: Any, path: Path, *, docs: str | None = None, cells: tuple[int, int] = (0, -1),
         **options: Any) -> None:
    """A screenshot into the test artifacts; ``docs``: also the documentation's picture of that name, when
    ``make screenshots`` asks for them (``BAML_MAGIC_DOC_IMAGES=1``), so the site shows what the tests saw,
    cropped to the notebook's ``cells`` (first, last) so its text reads at a page's width."""
    page.screenshot(path=str(path), **options)
    if docs is not None and os.environ.get("BAML_MAGIC_DOC_IMAGES") == "1":
        from PIL import Image

        box = page.evaluate(_CELLS, [bool(options.get("full_page")), *cells])
        with Image.open(path) as image:
            if box is not None:
                margin = 8
                left, top, right, bottom = (int(v) for v in box)
                image = image.crop((max(0, left - margin), max(0, top - margin), min(image.width, right + margin),
                                    min(image.height, bottom + margin)))
            image.save(DOC_IMAGES / docs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


@contextmanager
def jupyter_server(root: Path, scratch: Path, env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """The server on ``root`` (settings and its log under ``scratch``); yields its URL and token."""
    settings = scratch / "settings"
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    token, port = secrets.token_hex(16), free_port()
    log = (scratch / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env={**os.environ, **env, "JUPYTERLAB_SETTINGS_DIR": str(settings),
             "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "workspaces")},  # no layout restored from another run
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited; see {log.name}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
        except OSError:
            return False
        return True

    try:
        wait_until(answers, 60, f"the Jupyter server to start (see {log.name})", every=0.3)
    except (RuntimeError, TimeoutError):
        process.kill()
        raise
    try:
        yield url, token
    finally:
        process.terminate()
        process.wait(10)


def cell(page: Any, index: int) -> Any:
    """The notebook's cell at ``index`` (JupyterLab and Notebook 7 alike)."""
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


_CHANGED = """([index, selector, before, grownBy, unless]) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    const node = cell && cell.querySelector(selector);
    if (!node || (unless && cell.querySelector(unless))) return false;
    const text = node.innerText;
    return grownBy === null ? text !== before : text.length >= before.length + grownBy;
}"""


def wait_changed(page: Any, index: int, selector: str, before: str, *, grown_by: int | None = None,
                 unless: str = "", timeout: float = 60_000) -> str:
    """Wait until the text at ``selector`` in cell ``index`` is not ``before`` (or is ``grown_by``
    characters longer) while nothing in the cell matches ``unless``; return the text then."""
    page.wait_for_function(_CHANGED, arg=[index, selector, before, grown_by, unless], timeout=timeout)
    return str(cell(page, index).locator(selector).first.inner_text())


def run_cell(page: Any, index: int) -> None:
    """Select a cell and press Shift+Enter, as a person does; again if the page was not ready to take it."""
    prompt = cell(page, index).locator(".jp-InputPrompt")
    prompt.wait_for()
    before = prompt.inner_text()

    def taken() -> bool:  # "[*]:" or a new number: the kernel has it
        now = prompt.inner_text()
        return now != before and re.search(r"\[(\*|\d+)\]", now) is not None

    for _ in range(3):
        prompt.click()
        page.keyboard.press("Escape")
        page.keyboard.press("Shift+Enter")
        try:
            wait_until(taken, 5, every=0.05)
            return
        except TimeoutError:
            continue
