"""BAML source text split into top-level blocks, so a newer definition can replace an older one.

Only the top level is read here (a keyword, a name and the braces that close it, skipping
strings, raw strings and comments); everything else is left to BAML's own compiler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Which definitions share a name space: a newer block replaces an older one with the same key.
KIND_GROUPS = {
    "class": "type",
    "enum": "type",
    "type": "type",
    "function": "function",
    "template_string": "function",
    "client": "client",
    "test": "test",
    "generator": "generator",
    "retry_policy": "retry_policy",
}

_HEADER = re.compile(r"(?:dynamic\s+)?(class|enum|type|function|template_string|client|test|generator|retry_policy)"
                     r"(?:\s*<\s*\w+\s*>)?\s+([A-Za-z_][\w]*)")


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


def _skip_string(text: str, i: int) -> int:
    """Index just past the string or raw string starting at text[i]."""
    if text[i] == '"':
        j = i + 1
        while j < len(text) and text[j] not in '"\n':
            j += 2 if text[j] == "\\" else 1
        return j + 1
    hashes = len(text[i:]) - len(text[i:].lstrip("#"))
    closer = '"' + "#" * hashes
    end = text.find(closer, i + hashes + 1)
    return len(text) if end < 0 else end + len(closer)


def _skip_comment(text: str, i: int) -> int:
    if text.startswith("{//", i):
        end = text.find("//}", i + 3)
        return len(text) if end < 0 else end + 3
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _block_end(text: str, i: int) -> int:
    """Index just past the brace that closes the first brace at or after i."""
    depth = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"' or (ch == "#" and re.match(r'#+"', text[i:i + 8])):
            i = _skip_string(text, i)
            continue
        if text.startswith("//", i) or text.startswith("{//", i):
            i = _skip_comment(text, i)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def split_blocks(text: str) -> list[Block]:
    """The top-level definitions of a BAML text, in order."""
    blocks: list[Block] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text.startswith("//", i) or text.startswith("{//", i):
            i = _skip_comment(text, i)
            continue
        header = _HEADER.match(text, i)
        if header is None:
            # Not something we understand: leave it to the compiler, resume at the next line.
            nxt = text.find("\n", i)
            i = n if nxt < 0 else nxt + 1
            continue
        kind, name = header.group(1), header.group(2)
        if kind == "type":
            nxt = text.find("\n", header.end())
            end = n if nxt < 0 else nxt
        else:
            end = _block_end(text, header.end())
        blocks.append(Block(kind, name, i, end, text.count("\n", 0, i) + 1))
        i = end
    return blocks


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


def function_client(block_text: str) -> str | None:
    """The `client` a function block names (a client name or a provider/model shorthand)."""
    m = re.search(r'^\s*client\s+(?:"([^"]+)"|([\w/\-.]+))', block_text, re.M)
    return (m.group(1) or m.group(2)) if m else None


def function_prompt(block_text: str) -> str | None:
    """The prompt template of a function block, as written."""
    m = re.search(r'^\s*prompt\s+(#+)"(.*?)"\1', block_text, re.M | re.S)
    if m:
        return m.group(2).strip("\n")
    m = re.search(r'^\s*prompt\s+"((?:[^"\\]|\\.)*)"', block_text, re.M)
    return m.group(1) if m else None


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
