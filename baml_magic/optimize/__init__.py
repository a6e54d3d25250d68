"""BAML's prompt optimizer (``baml-cli optimize``) on the session's project: its run, its live view, its result."""

from __future__ import annotations

from baml_magic.optimize._result import Candidate, OptimizerError, OptimizeResult
from baml_magic.optimize._runner import Budget
from baml_magic.optimize._runner import prepare as prepare_folder
from baml_magic.optimize._runner import run as run_optimizer
from baml_magic.optimize._view import OptimizeView

__all__ = ["Budget", "Candidate", "OptimizeResult", "OptimizeView", "OptimizerError", "prepare_folder", "run_optimizer"]
