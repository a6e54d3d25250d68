"""BAML's rendered output format, read back: the schema a prompt asks the answer to fit.

BAML renders a function's return type into the prompt (``{{ ctx.output_format }}``): enums as
``Name`` / ``----`` / ``- VALUE: description`` lists, hoisted classes and type aliases as
``Name { ... }`` and ``Name = ...`` (optionally behind a ``hoisted_class_prefix``), then a prefix
(``Answer in JSON using this schema:``, ``Answer as an int``, a custom ``prefix=`` or none) and
the schema itself in a TypeScript-like notation (objects, ``T[]``, ``map<K, V>`` or ``{K: V}``,
literals, unions joined by ``or`` / ``|``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# -- the notation ------------------------------------------------------------------------------

Type = tuple[Any, ...]
PRIMITIVES = {"string", "int", "float", "bool", "null", "image", "audio", "pdf", "video"}
_SPLITTERS = ("or", "OR", "|", "||", "/")
_WORD = re.compile(r"[A-Za-z_][\w.\-]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class SchemaError(ValueError):
    """The text at this place is not BAML's output-format notation."""


@dataclass
class _Reader:
    text: str
    pos: int = 0
    known: set[str] = field(default_factory=set)  # names of enums, classes and aliases

    def space(self, newlines: bool = True) -> None:
        chars = " \t\r\n" if newlines else " \t"
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def expect(self, s: str) -> None:
        self.space()
        if not self.peek(s):
            raise SchemaError(f"expected {s!r} at {self.text[self.pos:self.pos + 20]!r}")
        self.pos += len(s)

    # type := postfix (splitter postfix)*
    def type(self) -> Type:
        options = [self.postfix()]
        while True:
            save = self.pos
            self.space(newlines=False)
            splitter = next((s for s in _SPLITTERS if self.peek(s + " ") or self.peek(s + "\n")), None)
            if splitter is None:
                self.pos = save
                break
            self.pos += len(splitter)
            self.space()
            options.append(self.postfix())
        return options[0] if len(options) == 1 else ("union", options)

    def postfix(self) -> Type:
        base = self.primary()
        while self.peek("[]"):
            self.pos += 2
            base = ("list", base)
        return base

    def primary(self) -> Type:
        self.space(newlines=False)
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise SchemaError("end of text")
        ch = text[pos]
        if ch == "{":
            return self.braces()
        if ch == "[":
            self.pos += 1
            self.space()
            inner = self.type()
            self.space()
            if self.peek(","):
                self.pos += 1
            self.expect("]")
            return ("list", inner)
        if ch == "(":
            self.pos += 1
            inner = self.type()
            self.expect(")")
            return inner
        if ch in "\"'":
            end = text.find(ch, pos + 1)
            while end > 0 and text[end - 1] == "\\":
                end = text.find(ch, end + 1)
            if end < 0:
                raise SchemaError("unclosed literal")
            self.pos = end + 1
            raw = text[pos:end + 1]
            try:
                return ("literal", json.loads(raw) if ch == '"' else raw[1:-1])
            except ValueError:
                return ("literal", raw[1:-1])
        number = _NUMBER.match(text, pos)
        if number:
            self.pos = number.end()
            return ("literal", json.loads(number.group(0)))
        word = _WORD.match(text, pos)
        if word is None:
            raise SchemaError(f"no type at {text[pos:pos + 20]!r}")
        name = word.group(0)
        self.pos = word.end()
        if name == "map" and self.peek("<"):
            self.pos += 1
            key = self.type()
            self.expect(",")
            self.space()
            value = self.type()
            self.expect(">")
            return ("map", key, value)
        if name in ("true", "false"):
            return ("literal", name == "true")
        if name in PRIMITIVES:
            return (name,)
        if name not in self.known:
            raise SchemaError(f"unknown name {name!r}")
        return ("named", name)

    def braces(self) -> Type:
        """``{`` then a newline: an object, one field a line; ``{K: V}`` on one line: a map."""
        self.pos += 1
        self.space(newlines=False)
        if not self.peek("\n") and not self.peek("\r"):
            key = self.type()
            self.expect(":")
            self.space(newlines=False)
            value = self.type()
            self.expect("}")
            return ("map", key, value)
        fields: list[tuple[str, Type]] = []
        while True:
            self.space()
            if self.peek("}"):
                self.pos += 1
                return ("object", fields)
            if self.peek("//"):
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
                continue
            line_end = self.text.find("\n", self.pos)
            line_end = len(self.text) if line_end < 0 else line_end
            colon = self.text.find(": ", self.pos, line_end)
            if colon < 0:
                colon = self.text.find(":", self.pos, line_end)
            if colon < 0:
                raise SchemaError(f"no field at {self.text[self.pos:self.pos + 20]!r}")
            name = self.text[self.pos:colon].strip().strip("\"'")
            self.pos = colon + 1
            fields.append((name, self.type()))
            self.space(newlines=False)
            if self.peek(","):
                self.pos += 1
            self.space(newlines=False)
            if self.peek("//"):  # a trailing comment
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end


# -- the definitions BAML prints before the schema -------------------------------------------------

_ENUM = re.compile(r"(?<![\w.\-])([A-Za-z_][\w.\-]*)\n-{3,}\n((?:- [^\n]*(?:\n|$))+)")
_HOISTED = re.compile(r"(?<![\w.\-])([A-Za-z_][\w.\-]*) (\{(?=\n)|= )")


@dataclass
class Definitions:
    enums: dict[str, list[str]] = field(default_factory=dict)
    types: dict[str, Type] = field(default_factory=dict)
    spans: list[tuple[int, int]] = field(default_factory=list)  # where each definition stands
    enum_spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def names(self) -> set[str]:
        return set(self.enums) | set(self.types)


def _enum_values(block: str) -> list[str]:
    values = []
    for line in block.splitlines():
        if line.startswith("- "):
            values.append(line[2:].split(": ", 1)[0].strip())
    return values


def definitions(prompt: str) -> Definitions:
    """Enums, hoisted classes and type aliases rendered in a prompt."""
    defs = Definitions()
    for m in _ENUM.finditer(prompt):
        defs.enums[m.group(1)] = _enum_values(m.group(2))
        defs.enum_spans[m.group(1)] = (m.start(), m.end())
        defs.spans.append((m.start(), m.end()))
    candidates = list(_HOISTED.finditer(prompt))
    names = defs.names() | {m.group(1) for m in candidates}
    for m in candidates:
        reader = _Reader(prompt, m.start(2) if m.group(2) == "{" else m.end(), names)
        try:
            parsed = reader.braces() if m.group(2) == "{" else reader.type()
        except SchemaError:
            continue
        defs.types[m.group(1)] = parsed
        defs.spans.append((m.start(), reader.pos))
    return defs


# -- where the schema is ------------------------------------------------------------------------

_MARKERS = re.compile(
    r"Answer in JSON using this schema:|Answer in JSON using any of these schemas:|"
    r"Answer with a JSON Array using this schema:|Answer as an? (int|float|bool|string)\b|"
    r"Answer with any of the categories:")


def find_schema(prompt: str, defs: Definitions) -> tuple[Type, int] | None:
    """The answer's type and where its notation starts, or None when the prompt asks for no format."""
    markers = list(_MARKERS.finditer(prompt))
    if markers:
        m = markers[-1]
        if m.group(1):
            return (m.group(1),), m.start()
        if m.group(0).startswith("Answer with any of the categories"):
            enum = _ENUM.search(prompt, m.end())
            if enum:
                return ("enum", _enum_values(enum.group(2))), m.start()
            return None
        reader = _Reader(prompt, m.end(), defs.names())
        reader.space()
        try:
            return reader.type(), m.start()
        except SchemaError:
            return None
    return _find_unmarked(prompt, defs)


def _find_unmarked(prompt: str, defs: Definitions) -> tuple[Type, int] | None:
    """A schema behind a custom prefix (or none): the notation that runs furthest, at a line's
    start or after a colon, outside the definitions."""
    best: tuple[int, int, Type] | None = None
    names = defs.names()
    inside = [range(a, b) for a, b in defs.spans]
    line_start = 0
    for line in prompt.splitlines(keepends=True):
        at_line = line_start + len(line) - len(line.lstrip())
        after_colon = {line_start + i + 1 for i, ch in enumerate(line) if ch == ":"}
        for start in sorted({at_line} | after_colon):
            if any(start in r for r in inside):
                continue
            reader = _Reader(prompt, start, names)
            try:
                parsed = reader.type()
            except SchemaError:
                continue
            rest = prompt.find("\n", reader.pos)
            tail = prompt[reader.pos: len(prompt) if rest < 0 else rest]
            # A bare primitive counts only right behind a prefix ("Reply with:float"), never as a prose word.
            if tail.strip() or ((parsed[0] in PRIMITIVES or parsed[0] == "literal") and start not in after_colon):
                continue
            if best is None or reader.pos > best[1]:
                best = (start, reader.pos, parsed)
        line_start += len(line)
    if best is None:
        # An enum answer behind a custom prefix (or none) is just its list of values, last in the prompt.
        if defs.enum_spans:
            name = max(defs.enum_spans, key=lambda n: defs.enum_spans[n][1])
            return ("enum", defs.enums[name]), defs.enum_spans[name][0]
        return None
    for enum_name, values in defs.enums.items():
        if best[2] == ("named", enum_name):
            return ("enum", values), best[0]
    return best[2], best[0]
