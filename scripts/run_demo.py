"""Execute a demo notebook headless (offline, against the bundled local model) and export it to HTML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent


def run(notebook: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Execute the notebook in its own folder; write the executed copy and its HTML to ``out_dir``."""
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    print(f"running {notebook.name} ({len(code)} code cells, offline, against the bundled model)", flush=True)

    def done(cell: Any, cell_index: int, execute_reply: Any) -> None:
        if cell.cell_type == "code":
            print(f"  cell {code.index(cell) + 1}/{len(code)} done", flush=True)

    # The kernel talks to this process on 127.0.0.1 only; its "running over TCP without encryption" warning
    # says nothing a newcomer running a demo needs to act on, so its log shows errors only.
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}},
                   extra_arguments=["--IPKernelApp.log_level=ERROR"], on_cell_executed=done).execute()
    out_dir = out_dir or notebook.parent / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    nbformat.write(nb, executed)
    html, _ = HTMLExporter().from_notebook_node(nb)
    exported = executed.with_suffix(".html")
    exported.write_text(html)
    return executed, exported


def main() -> None:
    notebooks = [Path(arg).resolve() for arg in sys.argv[1:]] or [ROOT / "notebooks" / "quickstart.ipynb"]
    for notebook in notebooks:
        executed, exported = run(notebook)
        print(f"executed {notebook.name}:\n  notebook: {executed}\n  html:     {exported}")
    print("Open them in JupyterLab with: make lab")


if __name__ == "__main__":
    main()
