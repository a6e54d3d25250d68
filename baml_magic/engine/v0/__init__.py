"""BAML v0, as ``baml-py`` runs it: the project (its check, its compile through BAML's generator, its types),
the engine that calls, streams and builds requests, and the reader of the runtime's call log."""

from __future__ import annotations

from baml_magic.engine.v0._engine import V0Engine, quiet
from baml_magic.engine.v0._project import V0Project

__all__ = ["V0Engine", "V0Project", "quiet"]
