"""``python -m baml_magic``: what this environment has of baml_magic, in a few lines (the install page's check)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import sys
from pathlib import Path

EXTENSION = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "baml-magic-editor"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def report() -> list[str]:
    """One line each: the package and its runtime, the editor extension, Jupyter."""
    import baml_magic

    lines = [f"baml_magic {baml_magic.__version__} · baml-py {_version('baml-py') or 'missing'} · Python "
             f"{sys.version.split()[0]} · {sys.prefix}"]
    found = (EXTENSION / "package.json").exists()
    lines.append(f"editor extension: {'installed' if found else 'not found'} at {EXTENSION}")
    lab = _version("jupyterlab")
    if lab or importlib.util.find_spec("notebook") is not None:
        notebook = _version("notebook") or "not installed"
        lines.append(f"Jupyter: JupyterLab {lab or 'not installed'} · Notebook {notebook} "
                     f"({shutil.which('jupyter') or 'no jupyter command on PATH'})")
    else:
        lines.append("Jupyter: not in this environment; python -m pip install jupyterlab (or the [demo] extra)")
    return lines


if __name__ == "__main__":
    print("\n".join(report()))
