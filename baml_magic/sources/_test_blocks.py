"""BAML ``test`` blocks read as data: the functions each one tests, its args as Python values, and its
``@@check`` / ``@@assert`` constraints in order.

Values follow BAML's grammar: quoted and raw strings, unquoted strings to the end of the line,
numbers, ``true``/``false``/``null``, ``[ ... ]`` lists and ``{ key value ... }`` maps. A media
argument (``{ file "x.png" }``, ``{ url "..." }``, ``{ base64 "...", media_type "..." }``) keeps
its map, with a relative ``file`` made absolute from where its ``.baml`` file is.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baml_magic.sources import _lexer as lexer
from baml_magic.sources import _scan as scan
from baml_magic.sources._blocks import body_start

MADE_MARK = "// BAML tests made in a notebook by baml_magic (Fn.last.to_test, Fn.tests_from)"
"""The first line of a file of made tests: BAML's test runners read it, the compile that binds functions leaves it
out (BAML's compile time grows with the square of the number of test blocks)."""

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?=[\s,\]}]|$)")
_CONSTRAINT = re.compile(r"@@(check|assert)\s*\(")
_ESCAPE = re.compile(r"\\(.)", re.S)  # a quoted arg's escapes, read as baml-cli reads them (others kept as written)
_ESCAPED = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Constraint:
    """One ``@@check`` or ``@@assert`` of a test block: its level, name (asserts may have none) and expression."""

    level: str  # check | assert
    label: str | None
    expression: str


@dataclass(frozen=True)
class TestBlock:
    """A test block: its name, the functions it tests, its args and its constraints."""

    name: str
    functions: tuple[str, ...]
    args: dict[str, Any]
    constraints: tuple[Constraint, ...] = ()
    where: str = ""
    problem: str | None = None  # what keeps it from running here (it then counts as an error)
    extra: dict[str, Any] = field(default_factory=dict)


class _Values:
    """A reader of BAML values over one text."""

    def __init__(self, text: str, origin: Path | None) -> None:
        self.text = text
        self.origin = origin

    def space(self, i: int) -> int:
        while True:
            j = scan.skip_space(self.text, i)
            if j < len(self.text) and self.text[j] == ",":
                i = j + 1
                continue
            return j

    def value(self, i: int) -> tuple[Any, int]:
        text = self.text
        ch = text[i]
        if ch == "{":
            return self.mapping(i)
        if ch == "[":
            return self.listing(i)
        if ch == '"':
            end = scan.skip_atom(text, i) or len(text)
            return _ESCAPE.sub(lambda m: _ESCAPED.get(m.group(1), m.group(0)), text[i + 1:end - 1]), end
        raw = scan.raw_open(text, i) if ch == "#" or ch.isalpha() else None
        if raw is not None:
            end = scan.skip_raw(text, raw)
            return _dedent(text[raw.end():end - len(raw.group(1)) - 1]), end
        number = _NUMBER.match(text, i)
        if number is not None:
            literal = number.group(0)
            return (float(literal) if any(c in literal for c in ".eE") else int(literal)), number.end()
        end = i
        while end < len(text) and text[end] not in "\r\n,]}":
            end += 1
        word = text[i:end].strip()
        return {"true": True, "false": False, "null": None}.get(word, word), end

    def listing(self, i: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        i = self.space(i + 1)
        while self.text[i] != "]":
            item, i = self.value(i)
            out.append(item)
            i = self.space(i)
        return out, i + 1

    def mapping(self, i: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        i = self.space(i + 1)
        while self.text[i] != "}":
            if self.text[i] == '"':
                end = scan.skip_atom(self.text, i) or len(self.text)
                key, i = self.text[i + 1:end - 1], end
            else:
                key, i = scan.word(self.text, i)
            i = scan.skip_space(self.text, i, newlines=False)
            out[key], i = self.value(i)
            i = self.space(i)
        if self.origin is not None and isinstance(out.get("file"), str) and not Path(out["file"]).is_absolute():
            out["file"] = str((self.origin.parent / out["file"]).resolve())
        return out, i + 1


def _dedent(raw: str) -> str:
    """A raw string's value: its common indentation removed, leading and trailing blank space trimmed."""
    return textwrap.dedent(raw).strip()


def _constraints(body: str) -> tuple[Constraint, ...]:
    out = []
    for match in _CONSTRAINT.finditer(body):
        start = match.end() - 1
        inner = body[start + 1:scan.skip_balanced(body, start) - 1]
        expression = re.search(r"\{\{(.*)\}\}", inner, re.S)
        before = inner[:expression.start()] if expression else inner
        label = before.strip().rstrip(",").strip() or None
        out.append(Constraint(match.group(1), label, expression.group(1).strip() if expression else ""))
    return tuple(out)


def read_test(block_text: str, name: str, where: str, origin: Path | None) -> TestBlock:
    """One test block's text as a TestBlock (a block it can't read gets a ``problem``)."""
    try:
        body = body_start(block_text)
        reader = _Values(block_text, origin)
        functions: tuple[str, ...] = ()
        args: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        i = reader.space(body + 1)
        while i < len(block_text) and block_text[i] != "}":
            if block_text.startswith("@@", i):
                i = scan.skip_balanced(block_text, block_text.index("(", i))
            else:
                key, i = scan.word(block_text, i)
                i = scan.skip_space(block_text, i, newlines=False)
                value, i = reader.value(i)
                if key in ("functions", "function"):
                    functions = tuple(str(f) for f in value) if isinstance(value, list) else (str(value),)
                elif key == "args":
                    args = value if isinstance(value, dict) else {}
                else:
                    extra[key] = value
            i = reader.space(i)
        problem = "type_builder blocks in tests run with %baml test --cli" if "type_builder" in extra else None
        return TestBlock(name, functions, args, _constraints(block_text[body:]), where, problem, extra)
    except (scan.Unreadable, IndexError, ValueError) as exc:
        return TestBlock(name, (), {}, (), where, f"can't read this test block ({exc})")


def read_tests(files: dict[str, str], origins: dict[str, Path] | None = None,
               labels: dict[str, str] | None = None) -> list[TestBlock]:
    """Every test block of the project's files, in file order."""
    out = []
    for name, text in files.items():
        for block in lexer.split_blocks(text):
            if block.kind != "test":
                continue
            where = f"{(labels or {}).get(name, name)}:{block.line}"
            out.append(read_test(text[block.start:block.end], block.name, where, (origins or {}).get(name)))
    return out
