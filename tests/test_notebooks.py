"""Every demo notebook runs headless and offline; saved notebooks and HTML exports show final results."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from scripts.run_demo import run

pytestmark = pytest.mark.kernel  # each notebook runs in a real kernel (nbclient)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _run_by_the_docs_build(notebook: Path) -> tuple[Path, Path] | None:
    """The docs build's own headless run of the notebook (``make test`` builds the docs just before the tests,
    and a cell that fails fails that build), if it ran the code as it is now: written after the notebook, every
    module of the package and the runner last changed. Else None: the test runs it."""
    executed = notebook.parent / "executed" / notebook.name
    exported = executed.with_suffix(".html")
    if not (executed.exists() and exported.exists()):
        return None
    inputs = [notebook, ROOT / "scripts" / "run_demo.py", *(ROOT / "baml_magic").rglob("*.py")]
    newest = max(p.stat().st_mtime for p in inputs)
    return (executed, exported) if min(executed.stat().st_mtime, exported.stat().st_mtime) > newest else None


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_headless_and_shows_results(notebook: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LOCAL_LLM_BASE_URL", raising=False)  # each notebook starts its own local model
    executed, exported = _run_by_the_docs_build(notebook) or run(notebook, tmp_path)
    nb = nbformat.read(executed, 4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], "a demo notebook must run clean"
    for output in outputs:
        data = output.get("data", {})
        if "application/vnd.jupyter.widget-view+json" in data:
            assert "text/html" in data and "text/plain" in data, "no widget-only output"
    views = [o["data"]["text/html"] for o in outputs
             if any(k in o.get("data", {}).get("text/html", "") for k in ("baml-magic-view", "baml-magic-grid"))]
    html = exported.read_text()
    for view in views:
        assert 'data-status="' in view
    assert views, "every demo notebook shows a call's view or a grid"
    assert 'data-status="done"' in html, "the HTML export shows the final results"
    # A live view is a widget bundle whose HTML fallback is a baml-magic-view; at the end it is replaced.
    live_views_left = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
                       and "baml-magic-view" in o["data"].get("text/html", "")]
    assert not live_views_left, "every live view was replaced by its final static output"
