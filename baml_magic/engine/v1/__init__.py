"""BAML v1 (experimental), through ``baml-bridge``: the project (its blocks, its compile, its types read
from the compiled program), the engine that calls and streams, and the reader of the bridge's events."""

from __future__ import annotations

from baml_magic.engine.v1._bridge import V1Unavailable
from baml_magic.engine.v1._engine import V1Engine, V1Unsupported
from baml_magic.engine.v1._project import V1Project

__all__ = ["V1Engine", "V1Project", "V1Unavailable", "V1Unsupported"]
