"""The engine kinds a session offers, by name: each makes the project its sources join.

The one place that lists the engines; everything outside ``engine/`` takes a kind by the name the user
gave (``%%baml --engine NAME``, ``BamlMagic.engine``) and asks its project, never an engine itself.
"""

from __future__ import annotations

from pathlib import Path

from baml_magic.engine._seam import Project
from baml_magic.engine.v0 import V0Project
from baml_magic.engine.v1 import V1Project

DEFAULT = "v0"
KINDS: dict[str, type[Project]] = {"v0": V0Project, "v1": V1Project}
NAMES = tuple(KINDS)
HELP = ("the BAML language: v0 (default; what baml-py runs) or v1 (experimental: the new language, "
        "baml-bridge==0.23.0)")


def projects(cache_dir: Path | None = None) -> dict[str, Project]:
    """A new, empty project of every kind, by name."""
    return {name: kind(cache_dir) for name, kind in KINDS.items()}
