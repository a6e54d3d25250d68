"""Runs kept by version of each function: the history, its file, and how answers moved between versions."""

from __future__ import annotations

from baml_magic.history._diff import CellChange, GridDiff, diff_line_html, diff_runs
from baml_magic.history._run_store import RunStore, runs_file
from baml_magic.history._runs import RunHistory, RunRecord, Version, from_outcome, from_run, scrubbed
from baml_magic.history._runs_view import Runs
from baml_magic.history._version_diff import VersionDiff, version_diff

__all__ = ["CellChange", "GridDiff", "RunHistory", "RunRecord", "RunStore", "Runs", "Version", "VersionDiff",
           "diff_line_html", "diff_runs", "from_outcome", "from_run", "runs_file", "scrubbed", "version_diff"]
