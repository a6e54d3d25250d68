"""Answers that fit BAML's rendered output format, for the offline model server.

BAML renders a function's return type into the prompt (``{{ ctx.output_format }}``) in a
small TypeScript-like notation. This module parses that notation and builds a plausible,
deterministic value of that shape, so typed demos and tests run without a real model.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

SCHEMA_MARKERS = (
    "Answer in JSON using this schema:",
    "Answer in JSON using any of these schemas:",
    "Answer with a JSON Array using this schema:",
)
CATEGORIES_MARKER = "Answer with any of the categories:"

SHORT_STRING_KEYS = re.compile(r"(title|name|label|category|kind|type|id|tag|city|country|author|unit)", re.I)

LEXICON = (
    "the quiet river carried a lantern past sleeping towns while a curious fox followed "
    "its light through reeds and old stone bridges until morning arrived with bright clouds "
    "and every window opened to hear the story of the lantern that never went out"
).split()

_TOKEN = re.compile(
    r"""\s*(?:(//[^\n]*)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|([{}\[\]()<>,:|])|([-+]?\d+(?:\.\d+)?)|([A-Za-z_][\w.\-]*))"""
)


@dataclass
class _Schema:
    tokens: list[str]
    pos: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise ValueError(f"schema: expected {expected!r}, found {tok!r}")
        self.pos += 1
        return tok


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"schema: cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1) is None:
            tokens.append(m.group(0).strip())
    return tokens


def _parse_type(s: _Schema) -> Any:
    alternatives = [_parse_postfix(s)]
    while s.peek() in ("or", "|"):
        s.take()
        alternatives.append(_parse_postfix(s))
    return alternatives[0] if len(alternatives) == 1 else ("union", alternatives)


def _parse_postfix(s: _Schema) -> Any:
    base = _parse_primary(s)
    while s.peek() == "[" and s.pos + 1 < len(s.tokens) and s.tokens[s.pos + 1] == "]":
        s.take("[")
        s.take("]")
        base = ("list", base)
    return base


def _parse_primary(s: _Schema) -> Any:
    tok = s.take()
    if tok == "{":
        fields: list[tuple[str, Any]] = []
        while s.peek() != "}":
            name = s.take().strip("'\"")
            s.take(":")
            fields.append((name, _parse_type(s)))
            if s.peek() == ",":
                s.take()
        s.take("}")
        return ("object", fields)
    if tok == "[":
        inner = _parse_type(s)
        if s.peek() == ",":
            s.take()
        s.take("]")
        return ("list", inner)
    if tok == "(":
        inner = _parse_type(s)
        s.take(")")
        return inner
    if tok == "map":
        s.take("<")
        key = _parse_type(s)
        s.take(",")
        value = _parse_type(s)
        s.take(">")
        return ("map", key, value)
    if tok[0] in "'\"":
        return ("literal", tok[1:-1])
    if re.fullmatch(r"[-+]?\d+(?:\.\d+)?", tok):
        return ("literal", json.loads(tok))
    if tok in ("string", "int", "float", "bool", "null"):
        return (tok,)
    return ("named", tok)


def _parse_enum_blocks(text: str) -> dict[str, list[str]]:
    """Enums BAML lists before the schema: ``Name\\n----\\n- A\\n- B: description``."""
    enums: dict[str, list[str]] = {}
    for m in re.finditer(r"^(\w+)\n-{2,}\n((?:- .*\n?)+)", text, re.M):
        enums[m.group(1)] = [line[2:].split(":")[0].strip() for line in m.group(2).splitlines()]
    return enums


class _Builder:
    def __init__(self, seed_text: str, words: int, enums: dict[str, list[str]]) -> None:
        self.rng = random.Random(seed_text)
        self.words = words
        self.enums = enums
        topic = [w for w in re.findall(r"[a-zA-Z]{4,}", seed_text) if w.lower() not in _SCHEMA_WORDS]
        self.vocab = LEXICON + topic[-6:] * 3

    def text(self, n: int) -> str:
        out = " ".join(self.rng.choice(self.vocab) for _ in range(max(1, n)))
        return out[:1].upper() + out[1:]

    def build(self, t: Any, key: str = "") -> Any:
        kind = t[0]
        if kind == "string":
            return self.text(self.rng.randint(2, 4) if SHORT_STRING_KEYS.search(key) else self.words)
        if kind == "int":
            return self.rng.randint(1, 99)
        if kind == "float":
            return round(self.rng.uniform(1, 99), 2)
        if kind == "bool":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        if kind == "literal":
            return t[1]
        if kind == "named":
            values = self.enums.get(t[1])
            return self.rng.choice(values) if values else self.text(3)
        if kind == "union":
            options = [alt for alt in t[1] if alt[0] != "null"] or t[1]
            return self.build(options[0], key)
        if kind == "list":
            return [self.build(t[1], key) for _ in range(3)]
        if kind == "map":
            return {f"{key or 'key'}_{i}": self.build(t[2], key) for i in range(1, 3)}
        if kind == "object":
            return {name: self.build(ft, name) for name, ft in t[1]}
        raise ValueError(f"schema: unknown type {t!r}")


_SCHEMA_WORDS = {"answer", "json", "using", "this", "schema", "string", "float", "bool", "null", "categories"}


def answer_for(prompt: str, words: int = 40) -> str:
    """Return an answer text for a rendered prompt: JSON fitting its schema, else prose."""
    enums = _parse_enum_blocks(prompt)
    for marker in SCHEMA_MARKERS:
        at = prompt.rfind(marker)
        if at >= 0:
            schema_text = prompt[at + len(marker):]
            try:
                parsed = _parse_type(_Schema(_tokenize(_cut_schema(schema_text))))
            except ValueError:
                break
            value = _Builder(prompt[:at], words, enums).build(parsed)
            return json.dumps(value, indent=2)
    at = prompt.rfind(CATEGORIES_MARKER)
    if at >= 0:
        names = next(iter(_parse_enum_blocks(prompt[at:] + "\n").values()), [])
        if names:
            return random.Random(prompt[:at]).choice(names)
    return _Builder(prompt, words, enums).text(words) + "."


def _cut_schema(text: str) -> str:
    """The schema ends where its brackets close; anything after it is prompt text."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "{[(<":
            depth += 1
        elif ch in "}])>":
            depth -= 1
            if depth == 0:
                rest = text[i + 1:]
                m = re.match(r"(\[\])*(\s+or\s+null)?", rest)
                return text[: i + 1 + (m.end() if m else 0)]
        elif ch == "\n" and depth == 0 and text[:i].strip():
            return text[:i]
    return text
