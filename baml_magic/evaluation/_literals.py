"""Python values written as BAML: a test block's args (BAML's value syntax) and the literals inside its
``@@assert`` expressions (BAML's minijinja).

The two read strings differently, as measured with ``baml-cli test``: a quoted arg takes the escapes
``\\n \\t \\r \\" \\\\``, while an expression's string literal is read as written, with no escape at all
(``'\\n'`` is two characters) and may span lines. So an expression writes a double quote as ``'"'`` joined
with ``~``, and breaks ``}}`` and ``{{`` (BAML's reader pairs them, even inside a string) into two literals.
"""

from __future__ import annotations

import decimal
import enum
import math
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from baml_magic.calls import MEDIA_TYPES

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


class LiteralError(ValueError):
    """A value BAML has no literal for (a non-finite number, an object of no BAML type)."""


class Written(str):
    """Text that is BAML already (a media map made from a table's path), written as it is."""


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise LiteralError(f"{value} has no BAML literal")
    text = format(decimal.Decimal(repr(value)), "f")  # positional: no exponent for either reader to misread
    return text if "." in text else text + ".0"  # still a float


def quoted(text: str) -> str:
    """A BAML quoted string (an arg)."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def arg(value: Any, media: Callable[[Any], str], indent: str = "") -> str:
    """``value`` in BAML's value syntax, as a test block's args hold it; ``media`` writes a media object."""
    if isinstance(value, Written):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return quoted(str(value.value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, tuple(MEDIA_TYPES)):
        return media(value)
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields}
    if isinstance(value, dict):
        return mapping(value, media, indent)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(arg(item, media, indent) for item in value) + "]"
    raise LiteralError(f"a {type(value).__name__} has no BAML literal")


def mapping(values: dict[Any, Any], media: Callable[[Any], str], indent: str) -> str:
    """A BAML map, one entry a line (``{}`` when empty)."""
    if not values:
        return "{}"
    inner = indent + "  "
    lines = []
    for key, item in values.items():
        key = str(key.value if isinstance(key, enum.Enum) else key)
        lines.append(f"{inner}{key if IDENTIFIER.match(key) else quoted(key)} {arg(item, media, inner)}")
    return "{\n" + "\n".join(lines) + "\n" + indent + "}"


def _string(text: str) -> str:
    """A string as BAML's minijinja reads it: pieces joined with ``~`` where a piece can't hold a character."""
    pieces: list[str] = []
    current = ""
    for ch in text:
        if ch == '"':
            pieces.extend([f'"{current}"', "'\"'"] if current else ["'\"'"])
            current = ""
        elif ch in "{}" and current.endswith(ch):
            pieces.append(f'"{current}"')
            current = ch
        else:
            current += ch
    if current or not pieces:
        pieces.append(f'"{current}"')
    return pieces[0] if len(pieces) == 1 else "(" + " ~ ".join(pieces) + ")"


def expression(value: Any) -> str:
    """A plain value (as ``many._export.plain`` gives it) as a literal of an ``@@assert`` expression."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        entries = ", ".join(f"{_string(str(k))}: {expression(v)}" for k, v in value.items())
        return "{ " + entries + " }" if entries else "{ }"  # spaced: `}}` would end the expression
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(expression(v) for v in value) + "]"
    raise LiteralError(f"a {type(value).__name__} has no literal in a BAML expression")
