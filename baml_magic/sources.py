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
from collections.abc import Callable
from dataclasses import dataclass

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
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_RAW_OPEN = re.compile(r"(?:[A-Za-z][A-Za-z0-9_\-]*)?(#+)\"")


class Unreadable(ValueError):
    """The text is not something this lexer can split with certainty."""


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


# -- the scanner: strings, comments and expressions skipped as BAML reads them ------------------


def _skip_quoted(text: str, i: int) -> int:
    """Past a ``"..."`` string; an unterminated one ends at its line's end, as in BAML."""
    j = i + 1
    n = len(text)
    while j < n:
        ch = text[j]
        if ch == "\\" and j + 1 < n and text[j + 1] == '"':
            j += 2
            continue
        if ch == '"':
            return j + 1
        if ch in "\r\n":
            return j
        j += 1
    return n


def _raw_open(text: str, i: int) -> re.Match[str] | None:
    """A raw string opening (``#"``, ``##"``, ``word#"``) at i, if there is one."""
    return _RAW_OPEN.match(text, i)


def _skip_raw(text: str, match: re.Match[str]) -> int:
    closer = '"' + match.group(1)
    end = text.find(closer, match.end())
    if end < 0:
        raise Unreadable("a raw string is not closed")
    return end + len(closer)


def _comment_at(text: str, i: int) -> bool:
    """``//`` starts a comment at a line's start or after white space (``https://x`` is no comment)."""
    return text.startswith("//", i) and (i == 0 or text[i - 1] in " \t\r\n{}(),")


def _skip_line_comment(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _skip_block_comment(text: str, i: int) -> int:
    end = text.find("//}", i + 3)
    if end < 0:
        raise Unreadable("a {// comment is not closed")
    return end + 3


def _skip_jinja(text: str, i: int) -> int:
    end = text.find("}}", i + 2)
    if end < 0:
        raise Unreadable("a {{ expression is not closed")
    return end + 2


def _skip_atom(text: str, i: int) -> int | None:
    """Past the string, comment or ``{{ }}`` expression at i; None if there is none there."""
    ch = text[i]
    if ch == '"':
        return _skip_quoted(text, i)
    if ch == "{":
        if text.startswith("{//", i):
            return _skip_block_comment(text, i)
        if text.startswith("{{", i):
            return _skip_jinja(text, i)
        return None
    if ch == "/" and _comment_at(text, i):
        return _skip_line_comment(text, i)
    if ch == "#" or (ch.isalpha() and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_-"))):
        raw = _raw_open(text, i)
        if raw is not None:
            return _skip_raw(text, raw)
    return None


_CLOSERS = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _skip_balanced(text: str, i: int, *, angle: bool = False) -> int:
    """Past the bracket group opening at text[i], skipping strings, comments and expressions."""
    stack = [_CLOSERS[text[i]]]
    j = i + 1
    n = len(text)
    openers = "([{<" if angle else "([{"
    while j < n:
        skipped = _skip_atom(text, j)
        if skipped is not None:
            j = skipped
            continue
        ch = text[j]
        if ch in openers:
            stack.append(_CLOSERS[ch])
        elif ch in ")]}" or (angle and ch == ">"):
            if ch != stack[-1]:
                raise Unreadable(f"unbalanced {ch!r}")
            stack.pop()
            if not stack:
                return j + 1
        j += 1
    raise Unreadable("a block is not closed")


def _skip_space(text: str, i: int, *, newlines: bool = True) -> int:
    """Past white space and comments (and newlines, unless told not to)."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t" or (newlines and ch in "\r\n"):
            i += 1
        elif text.startswith("{//", i):
            i = _skip_block_comment(text, i)
        elif newlines and _comment_at(text, i):
            i = _skip_line_comment(text, i)
        else:
            break
    return i


def _word(text: str, i: int) -> tuple[str, int]:
    match = _WORD.match(text, i)
    if match is None:
        raise Unreadable(f"expected a name at {text[i:i + 20]!r}")
    return match.group(0), match.end()


# -- top-level blocks --------------------------------------------------------------------------


def _braced_end(text: str, i: int) -> int:
    """After a block's name: optional ``(args)``, ``-> type``, then the ``{ ... }`` body."""
    i = _skip_space(text, i)
    if i < len(text) and text[i] == "(":
        i = _skip_space(text, _skip_balanced(text, i))
    if text.startswith("->", i):
        i += 2
        # The return type runs to the block's opening brace, over literal strings and map<...>.
        while i < len(text) and text[i] != "{":
            skipped = _skip_atom(text, i) if text[i] != "{" else None
            if skipped is not None:
                i = skipped
            elif text[i] in "(<[":
                i = _skip_balanced(text, i, angle=text[i] == "<")
            else:
                i += 1
    if i >= len(text) or text[i] != "{":
        raise Unreadable(f"expected '{{' at {text[i:i + 20]!r}")
    return _skip_balanced(text, i)


def _template_end(text: str, i: int) -> int:
    """After a template_string's name: optional ``=`` and ``(args)``, then its raw string."""
    i = _skip_space(text, i)
    if i < len(text) and text[i] == "=":
        i = _skip_space(text, i + 1)
    if i < len(text) and text[i] == "(":
        i = _skip_space(text, _skip_balanced(text, i))
    raw = _raw_open(text, i)
    if raw is None:
        raise Unreadable("a template_string needs a #\"...\"# body")
    return _skip_raw(text, raw)


def _line_end(text: str, i: int) -> int:
    """End of the logical line at i: brackets, strings and ``{{ }}`` may carry it over newlines."""
    n = len(text)
    while i < n and text[i] not in "\r\n":
        skipped = _skip_atom(text, i)
        if skipped is not None:
            i = skipped
        elif text[i] in "([{":
            i = _skip_balanced(text, i)
        elif text[i] == "<":
            i = _skip_balanced(text, i, angle=True)
        else:
            i += 1
    return i


def _alias_end(text: str, i: int) -> int:
    """``type Name = ...``: its line, and following lines that go on with ``@attr`` or ``| type``."""
    i = _skip_space(text, i, newlines=False)
    if not text.startswith("=", i):
        raise Unreadable("a type alias needs '='")
    end = _line_end(text, i + 1)
    while True:
        nxt = _skip_space(text, end)
        if nxt < len(text) and text[nxt] in "@|":
            end = _line_end(text, nxt)
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
    while True:
        i = _skip_space(text, i)
        if i >= n:
            return blocks
        raw = _raw_open(text, i)
        if raw is not None:  # a stray raw string is allowed at the top level
            i = _skip_raw(text, raw)
            continue
        start = i
        keyword, i = _word(text, i)
        kind = keyword
        if keyword == "dynamic":
            i = _skip_space(text, i, newlines=False)
            inner, i = _word(text, i)
            if inner not in ("class", "enum"):
                raise Unreadable(f"dynamic {inner}")
        elif keyword == "client" and text.startswith("<", i):
            i = _skip_balanced(text, i, angle=True)
        elif keyword in _TEMPLATE_KEYWORDS:
            kind = "template_string"
        elif keyword not in KIND_GROUPS:
            raise Unreadable(f"unknown top-level keyword {keyword!r}")
        i = _skip_space(text, i, newlines=False)
        name, i = _word(text, i)
        if kind == "template_string":
            end = _template_end(text, i)
        elif kind == "type":
            end = _trim_trailing_space(text, start, _alias_end(text, i))
        else:
            end = _braced_end(text, i)
        blocks.append(Block(kind, name, start, end, text.count("\n", 0, start) + 1))
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


# -- what a block says ------------------------------------------------------------------------


def _body_open(block_text: str) -> int:
    """Index of a block's body brace: the first ``{`` outside its header's parentheses and strings."""
    j = 0
    while j < len(block_text):
        skipped = _skip_atom(block_text, j)
        if skipped is not None:
            j = skipped
        elif block_text[j] == "(":
            j = _skip_balanced(block_text, j)
        elif block_text[j] == "{":
            return j
        else:
            j += 1
    raise Unreadable("no block body")


def header(block_text: str) -> str:
    """A block's header on one line: ``function F(x: string) -> Story``."""
    try:
        head = block_text[:_body_open(block_text)]
    except Unreadable:
        head = block_text.split("{", 1)[0]
    return " ".join(head.split())


def _body_entries(block_text: str) -> list[tuple[str, int, int]]:
    """(key, value start, value end) of each ``key value`` line at the top of a block's body."""
    i = _body_open(block_text)
    entries = []
    k = i + 1
    end = len(block_text) - 1
    while k < end:
        k = _skip_space(block_text, k)
        if k >= end:
            break
        match = _WORD.match(block_text, k)
        if match is None:
            k = _line_end(block_text, k) + 1
            continue
        value_start = _skip_space(block_text, match.end(), newlines=False)
        value_end = _line_end(block_text, value_start)
        entries.append((match.group(0), value_start, value_end))
        k = value_end + 1
    return entries


def block_entry(block_text: str, key: str) -> str | None:
    """The value text of a top-level ``key value`` line in a block (``client``, ``prompt``, ...)."""
    try:
        for name, start, end in _body_entries(block_text):
            if name == key:
                return block_text[start:end].strip()
    except Unreadable:
        return None
    return None


def function_client(block_text: str) -> str | None:
    """The `client` a function block names (a client name or a provider/model shorthand)."""
    value = block_entry(block_text, "client")
    if not value:
        return None
    value = re.sub(r"\s+//.*$", "", value)
    return value[1:-1] if value.startswith('"') and value.endswith('"') else value


def function_prompt(block_text: str) -> str | None:
    """The prompt template of a function block, as written."""
    value = block_entry(block_text, "prompt")
    if not value:
        return None
    raw = _raw_open(value, 0)
    if raw is not None:
        return value[raw.end():len(value) - len(raw.group(1)) - 1].strip("\n")
    if value.startswith('"'):
        return value[1:-1]
    return value


def env_references(block_text: str) -> list[str]:
    """Environment variables a block reads (``env.NAME``)."""
    return sorted(set(re.findall(r"\benv\.([A-Za-z_]\w*)", block_text)))


_ONE_LINE_OPTIONS = re.compile(r"^\s*options\s*\{([^\n{}]*)\}\s*$", re.M)
_OPTION_KEY = re.compile(r'(?:^|\s)[A-Za-z_]\w*\s+(?:"|env\.|[\d\-]|true\b|false\b|\{|\[)')


def one_line_options(block_text: str) -> int | None:
    """Line (1-based, in the block) of an ``options { a x  b y }`` written on one line with several keys.

    BAML 0.226 reads that as one option and the client then fails at call time (for example
    "relative URL without a base"); each option must stand on its own line.
    """
    for match in _ONE_LINE_OPTIONS.finditer(block_text):
        if len(_OPTION_KEY.findall(match.group(1))) > 1:
            return block_text.count("\n", 0, match.start()) + 1
    return None


_FILE_ARG = re.compile(r'(\bfile\s+)"([^"\n]+)"')


def rebase_files(block_text: str, rewrite: Callable[[str], str]) -> str:
    """A test block with each ``file "path"`` passed through ``rewrite(path) -> path``."""
    return _FILE_ARG.sub(lambda m: f'{m.group(1)}"{rewrite(m.group(2))}"', block_text)
