"""Answers become BAML tests: ``Fn.last.to_test``, ``%baml runs test`` and ``Fn.tests_from``.

Each made test joins the session's made tests at once (``%baml test`` runs it in the next cell) and is
shown ready to paste; a loaded folder's file is written only by ``write()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baml_magic._redact import REDACTED
from baml_magic.calls import Run, has_media
from baml_magic.engine import Compiled, FunctionSpec
from baml_magic.evaluation import (
    Columns,
    Expect,
    MadeTest,
    MadeTestError,
    MadeTests,
    TestSet,
    Written,
    assertions,
    block,
    field_assert,
    field_type,
    is_class,
    mapped,
    media_writer,
    optional,
    quoted,
    read_rows,
    test_name,
    typed,
)
from baml_magic.history import RunRecord


@dataclass(frozen=True)
class Maker:
    """What a bound function makes tests with: its spec, its project, and the session's made tests."""

    spec: FunctionSpec
    compiled: Compiled
    made: TestSet

    def check(self) -> None:
        """Made tests are BAML test blocks of the engine ``%baml test`` runs."""
        self.compiled.engine.require("made_tests")

    def keep(self, tests: list[MadeTest]) -> MadeTests:
        self.made.add(tests)
        key = self.spec.source_key  # a loaded function's file: write() puts a file in its folder
        folder = Path(key).parent if key and not key.startswith("cell:") and Path(key).is_file() else None
        return MadeTests(tests, folder)


def _one(fn: Maker, name: str | None, inputs: dict[str, Any], value: Any, expect: Expect) -> MadeTests:
    fn.check()
    taken = fn.made.taken(fn.compiled)
    chosen = test_name(name or f"{fn.spec.name}_kept", taken)
    asserts = assertions(value, expect, whole_by_default=not is_class(fn.spec.returns))
    return fn.keep([MadeTest(chosen, fn.spec.name, block(chosen, fn.spec.name, inputs, asserts,
                                                        media_writer(Path.cwd())))])


def from_run(fn: Maker, run: Run, name: str | None, expect: Expect) -> MadeTests:
    """``Fn.last.to_test(NAME, expect=...)``: the run's inputs and its answer's asserted fields."""
    if run.status != "done":
        raise MadeTestError(f"{run.function}'s last run ended {run.status.value}: only an answer can be kept "
                              "as a test")
    return _one(fn, name, dict(run.args), run.value, expect)


def from_record(fn: Maker, record: RunRecord, name: str | None, expect: Expect) -> MadeTests:
    """``%baml runs test FN RUN``: a kept run (its inputs as the history keeps them: scrubbed, media summed up)."""
    if record.status != "done":
        raise MadeTestError(f"that run of {record.function} ended {record.status}: only an answer can be kept "
                              "as a test")
    media = [p for p, annotation in fn.spec.params if has_media(annotation)]
    if media:
        raise MadeTestError(f"the history keeps a summary of {', '.join(media)} (media), not the file: make the "
                              f"test with {fn.spec.name}.last.to_test(...) after the call instead")
    if REDACTED in repr(record.inputs):
        raise MadeTestError("that run's inputs had a secret value scrubbed from them: it can't be a test")
    return _one(fn, name, dict(record.inputs), record.value, expect)


def _media_cell(value: Any) -> Any:
    """A media column's text (a path or URL) as the test block writes it; anything else as it is."""
    if not isinstance(value, str):
        return value
    kind = "url" if "://" in value else "file"
    return Written("{ " + kind + " " + quoted(value) + " }")


def from_rows(fn: Maker, rows: Any, *, inputs: Columns = None, expect: Columns = None,
              name: str | None = None) -> MadeTests:
    """``Fn.tests_from(ROWS, inputs=..., expect=..., name=...)``: a test per row; ``name``: a column of test
    names, or a prefix (default ``row``: ``row_01``, ``row_02``, ...)."""
    fn.check()
    table = read_rows(rows)
    if not table:
        raise MadeTestError("the table has no rows")
    columns = set().union(*(row.keys() for row in table))
    params = dict(fn.spec.params)
    given = mapped(inputs, list(params), "inputs", columns)
    unknown = [p for p in given if p not in params]
    if unknown:
        raise MadeTestError(f"inputs: {fn.spec.name} has no parameter {', '.join(unknown)} (its parameters: "
                              f"{', '.join(params) or 'none'})")
    missing = [p for p, annotation in params.items() if p not in given and not optional(annotation)]
    if missing:
        raise MadeTestError(f"no column for {fn.spec.name}'s parameter {', '.join(missing)}: name one "
                              f"with inputs={{{missing[0]!r}: 'COLUMN'}}")
    returns: Any = fn.spec.returns
    fields = list(returns.model_fields) if is_class(returns) else []
    if is_class(returns):
        defaults = [f for f in fields if f not in given.values()]
    else:
        defaults = ["expected"]
    targets = mapped(expect, defaults, "expect", columns)
    if not is_class(returns):
        if len(targets) > 1:
            raise MadeTestError(f"expect: {fn.spec.name} returns no class: one column, its whole answer")
        targets = {"": column for column in targets.values()}  # noqa: B035 - at most one: the whole answer
    elif expect is not None and isinstance(expect, str) and expect not in fields:
        raise MadeTestError(f"expect: {fn.spec.name} returns a class; its fields: {', '.join(fields)}")
    taken = fn.made.taken(fn.compiled)
    width = len(str(len(table)))
    named = name is not None and name in columns
    media = media_writer(Path.cwd())
    tests = []
    for i, row in enumerate(table, 1):
        args: dict[str, Any] = {}
        for param, column in given.items():
            annotation = params[param]
            cell = row.get(column)
            where = f"row {i}, column {column!r}"
            args[param] = _media_cell(cell) if has_media(annotation) else typed(annotation, cell, where)
        asserts: list[tuple[str | None, str]] = []
        for path, column in targets.items():
            if row.get(column) is not None:
                annotation, read_as = field_type(returns, path) if path else (returns, "")
                expected = typed(annotation, row[column], f"row {i}, column {column!r}")
                asserts.append(field_assert(read_as, expected, label=path.replace(".", "_") or "expected"))
        label = row.get(name) if named and name is not None else None
        wanted = str(label) if label is not None else f"{name or 'row'}_{i:0{width}d}"
        chosen = test_name(wanted, taken)
        tests.append(MadeTest(chosen, fn.spec.name, block(chosen, fn.spec.name, args, asserts, media)))
    return fn.keep(tests)
