"""BAML source text split into its top-level blocks, following BAML's own grammar.

The rules are those of the pest grammar of BAML's parser (``datamodel.pest`` in BoundaryML/baml):

- ``KEYWORD Name [(args)] [-> type] { ... }`` for ``class``, ``enum``, ``function``, ``client<llm>``,
  ``retry_policy``, ``generator``, ``test`` (value and type expression blocks), and ``dynamic class``;
- ``template_string Name [= ] [(args)] #"..."#`` with no braces (a raw string ends it);
- ``type Name = type-expression``, ending with its line unless the next line goes on with an
  attribute (``@...``) or a union bar;
- comments ``//``, ``///`` and ``{// ... //}``; quoted strings (one line, ``\\"`` escapes); raw strings
  with any number of ``#`` (and an optional word before them); ``{{ ... }}`` expressions, which may
  stand in attributes, constraints and test arguments and hold braces of their own.

The segments of a text (blocks and the trivia between them) join back into the text byte for byte.
Where the text can't be read with certainty (an unknown construct, an unclosed block), the
source is kept whole: :func:`split_blocks` reports it as not splittable and nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from baml_magic.sources._scan import (
    Unreadable,
    line_end,
    raw_open,
    skip_atom,
    skip_balanced,
    skip_raw,
    skip_space,
    word,
)

# Which definitions share a name space: a newer block replaces an older one with the same key.
KIND_GROUPS = {
    "class": "type",
    "enum": "type",
    "type": "type",
    "dynamic": "dynamic",
    "function": "function",
    "template_string": "function",
    "client": "client",
    "test": "test",
    "generator": "generator",
    "retry_policy": "retry_policy",
}
_TEMPLATE_KEYWORDS = {"template_string", "string_template"}



@dataclass(frozen=True)
class Block:
    """One top-level definition: its kind, name and where it sits in its text."""

    kind: str
    name: str
    start: int
    end: int
    line: int  # 1-based line of the header

    @property
    def key(self) -> tuple[str, str]:
        return KIND_GROUPS[self.kind], self.name


@dataclass(frozen=True)
class Split:
    """A text's blocks, or ``whole=True`` (with the reason) when it could not be split."""

    blocks: list[Block]
    whole: bool = False
    reason: str = ""


# -- top-level blocks --------------------------------------------------------------------------


def _braced_end(text: str, i: int) -> int:
    """After a block's name: optional ``(args)``, ``-> type``, then the ``{ ... }`` body."""
    i = skip_space(text, i)
    if i < len(text) and text[i] == "(":
        i = skip_space(text, skip_balanced(text, i))
    if text.startswith("->", i):
        i += 2
        # The return type runs to the block's opening brace, over literal strings and map<...>.
        while i < len(text) and text[i] != "{":
            skipped = skip_atom(text, i) if text[i] != "{" else None
            if skipped is not None:
                i = skipped
            elif text[i] in "(<[":
                i = skip_balanced(text, i, angle=text[i] == "<")
            else:
                i += 1
    if i >= len(text) or text[i] != "{":
        raise Unreadable(f"expected '{{' at {text[i:i + 20]!r}")
    return skip_balanced(text, i)


def _template_end(text: str, i: int) -> int:
    """After a template_string's name: optional ``=`` and ``(args)``, then its raw string."""
    i = skip_space(text, i)
    if i < len(text) and text[i] == "=":
        i = skip_space(text, i + 1)
    if i < len(text) and text[i] == "(":
        i = skip_space(text, skip_balanced(text, i))
    raw = raw_open(text, i)
    if raw is None:
        raise Unreadable("a template_string needs a #\"...\"# body")
    return skip_raw(text, raw)


def _alias_end(text: str, i: int) -> int:
    """``type Name = ...``: its line, and following lines that go on with ``@attr`` or ``| type``."""
    i = skip_space(text, i, newlines=False)
    if not text.startswith("=", i):
        raise Unreadable("a type alias needs '='")
    end = line_end(text, i + 1)
    while True:
        nxt = skip_space(text, end)
        if nxt < len(text) and text[nxt] in "@|":
            end = line_end(text, nxt)
        else:
            return end


def _trim_trailing_space(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in " \t":
        end -= 1
    return end


def split_blocks(text: str) -> list[Block]:
    """The top-level definitions of a BAML text, in order ([] when it can't be split for sure)."""
    return split(text).blocks


def split(text: str) -> Split:
    """The top-level definitions of a BAML text, or the reason it must be kept whole."""
    try:
        return Split(_blocks(text))
    except Unreadable as exc:
        return Split([], whole=True, reason=str(exc))


def _blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    i, n = 0, len(text)
    line, counted = 1, 0  # line numbers counted as we go, not from the start each time
    while True:
        i = skip_space(text, i)
        if i >= n:
            return blocks
        raw = raw_open(text, i)
        if raw is not None:  # a stray raw string is allowed at the top level
            i = skip_raw(text, raw)
            continue
        start = i
        keyword, i = word(text, i)
        kind = keyword
        if keyword == "dynamic":
            i = skip_space(text, i, newlines=False)
            inner, i = word(text, i)
            if inner not in ("class", "enum"):
                raise Unreadable(f"dynamic {inner}")
        elif keyword == "client" and text.startswith("<", i):
            i = skip_balanced(text, i, angle=True)
        elif keyword in _TEMPLATE_KEYWORDS:
            kind = "template_string"
        elif keyword not in KIND_GROUPS:
            raise Unreadable(f"unknown top-level keyword {keyword!r}")
        i = skip_space(text, i, newlines=False)
        name, i = word(text, i)
        if kind == "template_string":
            end = _template_end(text, i)
        elif kind == "type":
            end = _trim_trailing_space(text, start, _alias_end(text, i))
        else:
            end = _braced_end(text, i)
        line += text.count("\n", counted, start)
        counted = start
        blocks.append(Block(kind, name, start, end, line))
        i = end


def segments(text: str) -> list[tuple[int, int, Block | None]]:
    """The whole text as consecutive (start, end, block-or-None) pieces: blocks and what lies between."""
    out: list[tuple[int, int, Block | None]] = []
    pos = 0
    for block in split_blocks(text):
        if block.start > pos:
            out.append((pos, block.start, None))
        out.append((block.start, block.end, block))
        pos = block.end
    if pos < len(text) or not out:
        out.append((pos, len(text), None))
    return out


def mask(text: str, blocks: list[Block]) -> str:
    """The text with the given blocks blanked out, keeping every line where it was."""
    out = []
    pos = 0
    for block in sorted(blocks, key=lambda b: b.start):
        out.append(text[pos:block.start])
        out.append(re.sub(r"[^\n]", " ", text[block.start:block.end]))
        pos = block.end
    out.append(text[pos:])
    return "".join(out)
