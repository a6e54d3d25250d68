"""The scanner under the lexer: strings, raw strings, comments and ``{{ }}`` expressions skipped as
BAML's grammar reads them, and bracket groups balanced over them."""

from __future__ import annotations

import re

from baml_magic._errors import BamlMagicError

WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_RAW_OPEN = re.compile(r"(?:[A-Za-z][A-Za-z0-9_\-]*)?(#+)\"")


class Unreadable(BamlMagicError, ValueError):
    """The text is not something this lexer can split with certainty."""


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


def raw_open(text: str, i: int) -> re.Match[str] | None:
    """A raw string opening (``#"``, ``##"``, ``word#"``) at i, if there is one."""
    return _RAW_OPEN.match(text, i)


def skip_raw(text: str, match: re.Match[str]) -> int:
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


def skip_atom(text: str, i: int) -> int | None:
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
    if ch == "#":  # a raw string's optional word before its hashes changes nothing: the hashes open it
        raw = raw_open(text, i)
        if raw is not None:
            return skip_raw(text, raw)
    return None


_CLOSERS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_NEXT = re.compile(r'["#/(){}\[\]]')  # where anything can happen; plain text between is skipped at once
_NEXT_ANGLE = re.compile(r'["#/(){}\[\]<>]')


def skip_balanced(text: str, i: int, *, angle: bool = False) -> int:
    """Past the bracket group opening at text[i], skipping strings, comments and expressions."""
    stack = [_CLOSERS[text[i]]]
    j = i + 1
    n = len(text)
    openers = "([{<" if angle else "([{"
    interesting = _NEXT_ANGLE if angle else _NEXT
    while j < n:
        found = interesting.search(text, j)
        if found is None:
            break
        j = found.start()
        skipped = skip_atom(text, j)
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


def skip_space(text: str, i: int, *, newlines: bool = True) -> int:
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


def word(text: str, i: int) -> tuple[str, int]:
    match = WORD.match(text, i)
    if match is None:
        raise Unreadable(f"expected a name at {text[i:i + 20]!r}")
    return match.group(0), match.end()


def line_end(text: str, i: int) -> int:
    """End of the logical line at i: brackets, strings and ``{{ }}`` may carry it over newlines."""
    n = len(text)
    while i < n and text[i] not in "\r\n":
        skipped = skip_atom(text, i)
        if skipped is not None:
            i = skipped
        elif text[i] in "([{":
            i = skip_balanced(text, i)
        elif text[i] == "<":
            i = skip_balanced(text, i, angle=True)
        else:
            i += 1
    return i
