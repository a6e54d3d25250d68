"""Evaluation: BAML test blocks and ad-hoc inputs across clients, as a live grid with BAML's verdicts."""

from __future__ import annotations

from baml_magic.evaluation._baml_tests import run_command as run_cli_tests
from baml_magic.evaluation._baml_tests import with_client, with_files_from
from baml_magic.evaluation._grid import run_grid
from baml_magic.evaluation._grid_result import Case, GridResult, Outcome, Stats
from baml_magic.evaluation._literals import Written, quoted
from baml_magic.evaluation._made_tests import (
    Expect,
    MadeTest,
    MadeTestError,
    assertions,
    block,
    field_assert,
    is_class,
    media_writer,
    test_name,
)
from baml_magic.evaluation._test_rows import Columns, field_type, mapped, optional, read_rows, typed
from baml_magic.evaluation._test_set import MadeTests, TestSet

__all__ = ["Case", "Columns", "Expect", "GridResult", "MadeTest", "MadeTestError", "MadeTests", "Outcome", "Stats",
           "TestSet", "Written", "assertions", "block", "field_assert", "field_type", "is_class", "mapped",
           "media_writer", "optional", "quoted", "read_rows", "run_cli_tests", "run_grid", "test_name", "typed",
           "with_client", "with_files_from"]
