"""Results of many calls as data: JSON text and pandas DataFrames, one row per call, in one shape."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from typing import Any

from baml_magic._errors import one_line, short_error
from baml_magic._redact import redact
from baml_magic._types import Usage
from baml_magic._verdict import plain


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
