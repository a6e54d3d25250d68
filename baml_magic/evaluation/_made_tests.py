"""BAML ``test`` blocks made from answers: a kept value becomes ``@@assert``s, inputs become args.

``expect`` says what a test asserts of the answer: None (each field of a class, else the whole value),
``"all"`` (the whole value), field names (``["category", "address.city"]``), or a user's own
expression (``"this.score > 3"``), alone or in a list with fields.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from baml_magic._errors import ShortError
from baml_magic._redact import redact
from baml_magic.calls import MEDIA_TYPES
from baml_magic.evaluation._literals import IDENTIFIER, LiteralError, expression, mapping, quoted
from baml_magic.many import plain

Expect = str | Sequence[str] | None
MEDIA_FOLDER = "baml_test_media"  # where a run's inline media is written, next to the test that names it
_FIELD_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_CHECKED = {"value", "checks"}


class MadeTestError(ShortError, ValueError):
    """A test that can't be made as asked (a field the answer lacks, a value BAML can't write, a secret)."""


@dataclass(frozen=True)
class MadeTest:
    """One made test: its name, the function it tests, and its BAML block."""

    name: str
    function: str
    text: str


def is_class(returns: Any) -> bool:
    return isinstance(returns, type) and issubclass(returns, BaseModel) and set(returns.model_fields) != _CHECKED


def _checked(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == _CHECKED


def _field(data: Any, path: str) -> Any:
    """The plain value at ``path`` (``a.b``); KeyError when the answer has no such field."""
    for part in path.split("."):
        if _checked(data):
            data = data["value"]
        if not isinstance(data, dict) or part not in data:
            raise KeyError(part)
        data = data[part]
    return data


def _equals(path: str, data: Any) -> str:
    """``path == value``, a checked field's value compared (``path.value``)."""
    if _checked(data):
        return _equals(f"{path}.value", data["value"])
    return f"{path} == {expression(data)}"


def field_assert(path: str, value: Any, *, label: str) -> tuple[str, str]:
    """The ``@@assert`` that the field at ``path`` (``""``: the whole answer) equals ``value``."""
    return label, _equals(f"this.{path}" if path else "this", plain(value))


def assertions(value: Any, expect: Expect, *, whole_by_default: bool) -> list[tuple[str | None, str]]:
    """(label, expression) of each ``@@assert`` on a kept ``value``."""
    data = plain(value)
    if expect is None:
        if whole_by_default or not isinstance(data, dict):
            return [("kept_value", _equals("this", data))]
        return [(name, _equals(f"this.{name}", item)) for name, item in data.items()]
    wanted = [expect] if isinstance(expect, str) else list(expect)
    out: list[tuple[str | None, str]] = []
    for item in wanted:
        if not isinstance(item, str):
            raise MadeTestError(f"expect= takes field names, 'all' or an expression, not {item!r}")
        if item == "all":
            out.append(("kept_value", _equals("this", data)))
        elif _FIELD_PATH.match(item) and item.split(".")[0] != "this" and isinstance(data, dict):
            try:
                out.append((item.replace(".", "_"), _equals(f"this.{item}", _field(data, item))))
            except KeyError:
                fields = ", ".join(data) if isinstance(data, dict) else "none"
                raise MadeTestError(f"the answer has no field {item!r} (its fields: {fields})") from None
        elif _FIELD_PATH.match(item) and item.split(".")[0] != "this":
            raise MadeTestError(f"the answer is a {type(data).__name__}, not a class: expect='all' or an "
                                  f"expression such as \"this == 'x'\", not the field {item!r}")
        else:
            out.append((None, _own_expression(item)))
    return out


def _own_expression(text: str) -> str:
    inner = text.strip()
    if inner.startswith("{{") and inner.endswith("}}"):
        inner = inner[2:-2].strip()
    if not inner or "}}" in inner:
        raise MadeTestError(f"expect={text!r}: an expression of BAML's Jinja, such as \"this.score > 3\"")
    return inner


def test_name(wanted: str, taken: set[str]) -> str:
    """``wanted`` as a BAML identifier no test has yet (``name_2``, ``name_3``, ... when it is taken)."""
    name = re.sub(r"\W+", "_", wanted.strip()).strip("_") or "test"
    if not IDENTIFIER.match(name):
        name = f"t_{name}"
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}_{n}", n + 1
    taken.add(unique)
    return unique


def media_writer(base: Path) -> Callable[[Any], str]:
    """How a media arg is written: its URL, or its bytes in a file under ``base`` named by their hash."""
    def write(media: Any) -> str:
        if media.is_url():
            return "{ url " + quoted(media.as_url()) + " }"
        encoded, media_type = media.as_base64()
        data = base64.b64decode(encoded)
        kind = MEDIA_TYPES[type(media)]
        suffix = mimetypes.guess_extension(media_type or "") or f".{kind}"
        name = f"{MEDIA_FOLDER}/{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
        path = base / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        typed = f", media_type {quoted(media_type)}" if media_type else ""
        return "{ file " + quoted(name) + typed + " }"

    return write


def block(name: str, function: str, args: dict[str, Any], asserts: list[tuple[str | None, str]],
          media: Callable[[Any], str]) -> str:
    """A BAML test block; a secret value among its args or assertions is refused, never written."""
    try:
        lines = [f"test {name} {{", f"  functions [{function}]", f"  args {mapping(args, media, '  ')}"]
        lines += [f"  @@assert({label + ', ' if label else ''}{{{{ {text} }}}})" for label, text in asserts]
    except LiteralError as exc:
        raise MadeTestError(f"test {name}: {exc}") from None
    text = "\n".join(lines) + "\n}\n"
    if redact(text) != text:
        raise MadeTestError(f"test {name}: its inputs or answer hold a secret value (a key a client reads); "
                              "it is not written")
    return text

