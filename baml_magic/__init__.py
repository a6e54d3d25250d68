"""baml_magic: BAML functions in IPython and Jupyter, typed, streaming and cancellable.

``%load_ext baml_magic`` registers ``%%baml`` / ``%baml`` and the ``BamlMagic`` configuration.
The offline model server is ``baml_magic.local_llm``; telemetry hooks are ``baml_magic.events``.
"""

from __future__ import annotations

import os
from typing import Any

from baml_py import Audio, Image, Pdf, Video
from baml_py.errors import (
    BamlAbortError,
    BamlClientError,
    BamlClientFinishReasonError,
    BamlClientHttpError,
    BamlError,
    BamlTimeoutError,
    BamlValidationError,
)

from baml_magic._errors import (
    BamlCompileError,
    BamlFunctionNotFound,
    BamlMagicError,
    BamlSourceError,
    ChecksFailed,
    IncompleteAnswerError,
    MissingEnvVarError,
    RayMissing,
    RegressionError,
    RemoteCallError,
    RequestBuildError,
    RetryWaitTooLong,
)
from baml_magic._render import Table
from baml_magic._types import Status, Timing, Usage, Verdict
from baml_magic.calls import (
    AsyncPartialStream,
    CacheMiss,
    CallOptions,
    MediaError,
    PartialStream,
    PromptView,
    RequestView,
    Run,
)
from baml_magic.engine import Compiled, Project, V1Unavailable, V1Unsupported, quiet_logs
from baml_magic.evaluation import GridResult, MadeTestError, MadeTests, Outcome, Stats
from baml_magic.history import CellChange, GridDiff, RunRecord, Runs, VersionDiff
from baml_magic.many import BatchError, BatchItemError, BatchJob, MapResult, Progress, RemoteRun
from baml_magic.notebook import (
    BamlFunction,
    BamlMagic,
    Playground,
    UnknownClientError,
    register_checks,
    unregister_checks,
)
from baml_magic.observe import TracingUnavailable
from baml_magic.optimize import Candidate, OptimizerError, OptimizeResult
from baml_magic.views import Background
from baml_magic.wire import Facts, Reply

__all__ = [
    "AsyncPartialStream",
    "Audio",
    "Background",
    "BamlAbortError",
    "BamlClientError",
    "BamlClientFinishReasonError",
    "BamlClientHttpError",
    "BamlCompileError",
    "BamlError",
    "BamlFunction",
    "BamlFunctionNotFound",
    "BamlMagic",
    "BamlMagicError",
    "BamlSourceError",
    "BamlTimeoutError",
    "BamlValidationError",
    "BatchError",
    "BatchItemError",
    "BatchJob",
    "CacheMiss",
    "CallOptions",
    "Candidate",
    "CellChange",
    "ChecksFailed",
    "Compiled",
    "Facts",
    "GridDiff",
    "GridResult",
    "Image",
    "IncompleteAnswerError",
    "MadeTestError",
    "MadeTests",
    "MapResult",
    "MediaError",
    "MissingEnvVarError",
    "OptimizeResult",
    "OptimizerError",
    "Outcome",
    "PartialStream",
    "Pdf",
    "Playground",
    "Progress",
    "Project",
    "PromptView",
    "RayMissing",
    "RegressionError",
    "RemoteCallError",
    "RemoteRun",
    "Reply",
    "RequestBuildError",
    "RequestView",
    "RetryWaitTooLong",
    "Run",
    "RunRecord",
    "Runs",
    "Stats",
    "Status",
    "Table",
    "Timing",
    "TracingUnavailable",
    "UnknownClientError",
    "Usage",
    "V1Unavailable",
    "V1Unsupported",
    "Verdict",
    "VersionDiff",
    "Video",
    "load_ipython_extension",
    "unload_ipython_extension",
]
__version__ = "0.1.0"

_magics: dict[int, BamlMagic] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics; keep BAML's own log lines out of the notebook unless BAML_LOG is set."""
    if "BAML_LOG" not in os.environ:
        quiet_logs()
    if id(ipython) in _magics:
        return
    magics = BamlMagic(ipython, parent=ipython)
    ipython.register_magics(magics)
    _magics[id(ipython)] = magics
    register_checks(ipython, magics.project_for)  # the editor extension's errors as you type (per cell's engine)


def unload_ipython_extension(ipython: Any) -> None:
    """Take back the names this extension bound, unhook its events."""
    magics = _magics.pop(id(ipython), None)
    if magics is not None:
        unregister_checks(ipython)
        magics.close()
        ipython.magics_manager.magics["line"].pop("baml", None)
        ipython.magics_manager.magics["cell"].pop("baml", None)


def _report_as_the_package() -> None:
    """Exported names say ``baml_magic.X`` (in tracebacks, reprs, ``help()`` and pickles), not the private
    module they live in; baml-py's re-exported names keep their own."""
    for name in __all__:
        exported = globals()[name]
        if getattr(exported, "__module__", "").startswith("baml_magic."):
            exported.__module__ = __name__


_report_as_the_package()
