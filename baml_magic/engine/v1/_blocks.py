"""BAML v1 sources cut into their top-level declarations, so a newer cell's definition replaces an older one's.

As in v0 (``_project.effective_files``), the newest definition of a name wins: an edited cell run as a
new cell (a terminal has no cell ids) does not meet "duplicate definition". The scan only needs v1's
lexical structure: brackets, strings (``"..."``, backtick templates with ``${...}``, raw ``#"..."#``) and
comments; a declaration starts at a line, outside every bracket, with its keyword and name.
"""

from __future__ import annotations

import re

_START = re.compile(r"(?:export\s+)?(class|enum|function|client|type|interface|let|const|test|implement)\b\s*"
                    r"(\"[^\"\n]*\"|[A-Za-z_]\w*)?")
_RAW = re.compile(r'(#+)"')
_KIND = {"class": "type", "enum": "type", "type": "type", "interface": "type", "function": "value",
         "client": "value", "let": "value", "const": "value", "test": "test"}  # one namespace per group


def declarations(text: str) -> list[tuple[str, str, int, int]]:
    """(namespace, name, start, end) of each top-level declaration, in order; the end is the next one's start."""
    starts: list[tuple[str, str, int]] = []
    depth, i, n = 0, 0, len(text)
    line_start = True
    while i < n:
        ch = text[i]
        if line_start and depth == 0:
            j = i
            while j < n and text[j] in " \t":
                j += 1
            found = _START.match(text, j)
            if found:  # an `implement` block (or a nameless start) is a boundary nothing replaces
                kind = _KIND.get(found.group(1), "")
                starts.append((kind, found.group(2) or "", i) if kind and found.group(2) else ("", str(i), i))
        line_start = ch == "\n"
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        raw = _RAW.match(text, i) if ch == "#" else None
        if raw:
            close = '"' + raw.group(1)
            end = text.find(close, raw.end())
            i = n if end < 0 else end + len(close)
            continue
        if ch in "\"`":
            i = _skip_string(text, i)
            continue
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth = max(0, depth - 1)
        i += 1
    return [(kind, name, start, starts[k + 1][2] if k + 1 < len(starts) else n)
            for k, (kind, name, start) in enumerate(starts)]


def _skip_string(text: str, i: int) -> int:
    """The index after the string opening at ``i`` (a backtick template's ``${...}`` may hold braces)."""
    quote, i, depth = text[i], i + 1, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if quote == "`" and text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if depth and ch == "}":
            depth -= 1
        elif not depth and ch == quote:
            return i + 1
        elif quote == '"' and ch == "\n":
            return i
        i += 1
    return i


def newest_wins(texts: list[str]) -> list[str]:
    """Each text (earlier first) with the declarations a later text defines again blanked out, its line
    numbers kept (the blanked lines stay as empty lines)."""
    out: list[str] = []
    later: set[tuple[str, str]] = set()
    for text in reversed(texts):
        found = declarations(text)
        cut = text
        for kind, name, start, end in reversed(found):
            if (kind, name) in later:
                cut = cut[:start] + "\n" * cut.count("\n", start, end) + cut[end:]
        later |= {(kind, name) for kind, name, _, _ in found}
        out.append(cut)
    return out[::-1]
