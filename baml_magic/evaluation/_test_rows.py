"""A table of labelled rows as BAML tests: one test per row, columns mapped to parameters and to expected fields.

Rows come from a DataFrame (pandas or polars), a list of dicts, or a CSV, JSONL, JSON or parquet file. A
text cell (a CSV's every cell) is read as its column's type (``"3"`` for an ``int``, ``"BILLING"`` for an
enum, JSON for a class or a list), as pydantic reads it; an empty cell asserts nothing.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic

from baml_magic.evaluation._made_tests import MadeTestError, is_class

Columns = str | Sequence[str] | Mapping[str, str] | None


def _load(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise MadeTestError(f"no file {path}")
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)]
    if suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise MadeTestError(f"{path}: a JSON list of objects, one a row")
        return data
    if suffix == ".parquet":
        try:
            pandas = importlib.import_module("pandas")
            return read_rows(pandas.read_parquet(path))
        except ImportError:
            raise MadeTestError("a parquet file needs pandas and pyarrow: pip install pandas pyarrow") from None
    raise MadeTestError(f"{path}: a .csv, .jsonl, .json or .parquet file")


def _cell(value: Any) -> Any:
    """A DataFrame's cell as plain Python (numpy scalars unwrapped; NaN, NA and NaT as None)."""
    if hasattr(value, "item") and type(value).__module__.startswith("numpy"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def read_rows(rows: Any) -> list[dict[str, Any]]:
    """The rows of a table: a DataFrame, a list of dicts, or a file's path."""
    if isinstance(rows, (str, Path)):
        return _load(Path(rows))
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas
        records = rows.to_dict("records")
    elif hasattr(rows, "to_dicts"):  # polars
        records = rows.to_dicts()
    elif isinstance(rows, Mapping) or not isinstance(rows, Iterable):
        raise MadeTestError(f"tests_from takes a table (a DataFrame, a list of dicts, or a .csv, .jsonl or "
                              f".parquet file), not a {type(rows).__name__}")
    else:
        records = list(rows)
    out = []
    for i, row in enumerate(records, 1):
        if not isinstance(row, Mapping):
            raise MadeTestError(f"row {i} is a {type(row).__name__}, not a mapping of column to value")
        out.append({str(k): _cell(v) for k, v in row.items()})
    return out


def mapped(given: Columns, default: list[str], what: str, columns: set[str]) -> dict[str, str]:
    """Target -> column: ``given`` (a column, a list of columns named as their targets, or a mapping), else each
    target in ``default`` that names a column."""
    if given is None:
        chosen = {name: name for name in default if name in columns}
    elif isinstance(given, str):
        chosen = {given: given}
    elif isinstance(given, Mapping):
        chosen = {str(k): str(v) for k, v in given.items()}
    else:
        chosen = {str(c): str(c) for c in given}
    missing = [c for c in chosen.values() if c not in columns]
    if missing:
        raise MadeTestError(f"{what}: no column {', '.join(map(repr, missing))} (the columns: "
                              f"{', '.join(sorted(columns)) or 'none'})")
    return chosen


def typed(annotation: Any, value: Any, where: str) -> Any:
    """A cell as ``annotation`` (text parsed as pydantic's lax mode does, JSON for a class or a list)."""
    if value is None or annotation is str or annotation is Any:
        return value
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    try:
        return pydantic.TypeAdapter(annotation).validate_python(value)
    except pydantic.ValidationError as exc:
        problem = exc.errors()[0]
        raise MadeTestError(f"{where}: {value!r} is not a {getattr(annotation, '__name__', annotation)} "
                              f"({problem['msg']})") from None


def field_type(returns: Any, path: str) -> tuple[Any, str]:
    """The type of the field at ``path`` of a class (Any when unknown) and the path as BAML's expressions read it
    (a checked field's value is its ``.value``)."""
    annotation, parts = returns, []
    for part in path.split("."):
        parts.append(part)
        if not is_class(annotation) or part not in annotation.model_fields:
            return Any, ".".join(parts)
        annotation = annotation.model_fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel) and \
                set(annotation.model_fields) == {"value", "checks"}:
            annotation = annotation.model_fields["value"].annotation
            parts.append("value")
    return annotation, ".".join(parts)


def optional(annotation: Any) -> bool:
    try:
        pydantic.TypeAdapter(annotation).validate_python(None)
    except pydantic.ValidationError:
        return False
    return True
