"""Results of many calls as data: JSON text and pandas DataFrames, one row per call, in one shape."""

from __future__ import annotations

import enum
import importlib
import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from baml_magic._errors import one_line, short_error
from baml_magic._redact import redact
from baml_magic._types import Usage


def row(index: int, status: str, value: Any, usage: Usage | None = None, latency: float | None = None
        ) -> dict[str, Any]:
    """One call as a row: its input's index, status, value (plain data) or error (one line, scrubbed), tokens."""
    failed = isinstance(value, BaseException)
    return {"index": index, "status": status, "value": None if failed else plain(value),
            "error": redact(short_error(value)) if failed else None,
            "tokens_in": usage.input_tokens if usage is not None else None,
            "tokens_out": usage.output_tokens if usage is not None else None, "latency": latency}


def to_json(rows: Iterable[dict[str, Any]], **extra: Any) -> str:
    return json.dumps({**extra, "rows": list(rows)}, default=str)


def to_pandas(rows: Iterable[dict[str, Any]]) -> Any:
    """A DataFrame of the rows (needs pandas, which baml_magic does not require)."""
    try:
        pandas = importlib.import_module("pandas")
    except ImportError:
        needs = ImportError("to_pandas() needs pandas: pip install pandas (or use rows() or to_json())")
        raise one_line(needs) from None
    return pandas.DataFrame(list(rows))


def plain(value: Any) -> Any:
    """A typed BAML value as the plain data BAML's expressions see (checked fields as their value)."""
    if isinstance(value, BaseModel):
        if set(type(value).model_fields) == {"value", "checks"}:  # BAML's Checked[T, ...], as BAML shows it
            checks = {name: {"name": c.name, "expression": c.expression, "status": c.status}
                      for name, c in value.checks.items()}  # type: ignore[attr-defined]
            return {"value": plain(value.value), "checks": checks}  # type: ignore[attr-defined]
        data = {name: plain(getattr(value, name)) for name in type(value).model_fields}
        data.update({k: plain(v) for k, v in (value.model_extra or {}).items()})
        return data
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k.value if isinstance(k, enum.Enum) else k): plain(v) for k, v in value.items()}
    return value
