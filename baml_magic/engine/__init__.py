"""The engines that run BAML, behind one face: the rest of the package asks an ``Engine`` (one per compiled
project) and the ``EngineCall`` it opens, a ``Project`` of sources by kind (``kinds``), and ``BamlCli`` for
BAML's command line; never a runtime, nor an engine's own module. ``v0`` runs BAML as baml-py does; ``v1``
runs the new language through the bridge.
"""

from __future__ import annotations

from baml_magic.engine import kinds
from baml_magic.engine._baml_cli import BamlCli
from baml_magic.engine._interrupt import abort_on_interrupt, can_watch
from baml_magic.engine._protocol import Engine, EngineCall
from baml_magic.engine._seam import (
    Compiled,
    FunctionSpec,
    Project,
    TypeModules,
    default_cache_dir,
    writable_cache_dir,
)
from baml_magic.engine._worker import wait_for, worker
from baml_magic.engine.v0 import quiet as quiet_logs
from baml_magic.engine.v1 import V1Unavailable, V1Unsupported

__all__ = ["BamlCli", "Compiled", "Engine", "EngineCall", "FunctionSpec", "Project", "TypeModules", "V1Unavailable",
           "V1Unsupported", "abort_on_interrupt", "can_watch", "default_cache_dir", "kinds", "quiet_logs", "wait_for",
           "worker", "writable_cache_dir"]
