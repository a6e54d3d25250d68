"""Small readers every wire family shares."""

from __future__ import annotations

from typing import Any


def integer(value: Any) -> int:
    """A count as the wire has it (0 where it is missing or not a number)."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def model_of(event: dict[str, Any]) -> str | None:
    """The model an answer names, wherever its family puts it."""
    found = event.get("model") or event.get("modelVersion") or (event.get("message") or {}).get("model") or \
        (event.get("response") or {}).get("model")
    return str(found) if found else None
