"""What a top-level block says: its header, its ``key value`` entries (client, prompt), the environment
variables it reads, and test-block file paths. Read with the lexer's scanner, so strings, comments and
``{{ }}`` expressions never confuse it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from baml_magic.sources._scan import WORD, Unreadable, line_end, raw_open, skip_atom, skip_balanced, skip_space

_BODY_NEXT = re.compile(r'["#/({]')


def body_start(block_text: str) -> int:
    """Index of a block's body brace: the first ``{`` outside its header's parentheses and strings."""
    j = 0
    while True:
        found = _BODY_NEXT.search(block_text, j)
        if found is None:
            raise Unreadable("no block body")
        j = found.start()
        skipped = skip_atom(block_text, j)
        if skipped is not None:
            j = skipped
        elif block_text[j] == "(":
            j = skip_balanced(block_text, j)
        elif block_text[j] == "{":
            return j
        else:
            j += 1


def _body_entries(block_text: str, body: int) -> dict[str, str]:
    """Each ``key value`` line at the top of a block's body (whose brace is at ``body``), by key."""
    return {key: block_text[start:end].strip() for key, (start, end) in _entry_spans(block_text, body).items()}


def _entry_spans(block_text: str, body: int) -> dict[str, tuple[int, int]]:
    """Where each top-level ``key value`` entry's value stands in the block (the first of each key)."""
    entries: dict[str, tuple[int, int]] = {}
    k = body + 1
    end = len(block_text) - 1
    while k < end:
        k = skip_space(block_text, k)
        if k >= end:
            break
        match = WORD.match(block_text, k)
        if match is None:
            k = line_end(block_text, k) + 1
            continue
        value_start = skip_space(block_text, match.end(), newlines=False)
        value_end = line_end(block_text, value_start)
        entries.setdefault(match.group(0), (value_start, value_end))
        k = value_end + 1
    return entries


def with_prompt(block_text: str, prompt: str) -> str | None:
    """A function block with its prompt replaced by ``prompt`` (a raw string with enough ``#`` to hold it);
    None when the block's prompt can't be found for sure."""
    try:
        span = _entry_spans(block_text, body_start(block_text)).get("prompt")
    except Unreadable:
        return None
    if span is None:
        return None
    hashes = "#"
    while f'"{hashes}' in prompt:
        hashes += "#"
    start, end = span
    line = block_text[block_text.rfind("\n", 0, start) + 1:start]
    indent = line[:len(line) - len(line.lstrip())]
    body = prompt.strip("\n")
    if "\n" in body:  # BAML takes the common indentation off a prompt: the lines may be indented for reading
        lines = "\n".join(f"{indent}  {row}" if row.strip() else "" for row in body.splitlines())
        text = f'{hashes}"\n{lines}\n{indent}"{hashes}'
    else:
        text = f'{hashes}"{body}"{hashes}'
    while end > start and block_text[end - 1] in " \t\r":
        end -= 1
    return block_text[:start] + text + block_text[end:]


@dataclass(frozen=True)
class FunctionFacts:
    """What a function block says, read in one pass: its header, client and prompt."""

    header: str
    client: str | None
    prompt: str | None
    body: int | None  # where its body's brace is (None when it can't be read for sure)


def function_facts(block_text: str) -> FunctionFacts:
    try:
        body: int | None = body_start(block_text)
    except Unreadable:
        body = None
    head = block_text[:body] if body is not None else block_text.split("{", 1)[0]
    try:
        entries = _body_entries(block_text, body) if body is not None else {}
    except Unreadable:
        entries = {}
    return FunctionFacts(" ".join(head.split()), _client(entries.get("client")), _prompt(entries.get("prompt")),
                         body)


def _client(value: str | None) -> str | None:
    if not value:
        return None
    value = re.sub(r"\s+//.*$", "", value)
    return value[1:-1] if value.startswith('"') and value.endswith('"') else value


def _prompt(value: str | None) -> str | None:
    if not value:
        return None
    raw = raw_open(value, 0)
    if raw is not None:
        return value[raw.end():len(value) - len(raw.group(1)) - 1].strip("\n")
    if value.startswith('"'):
        return value[1:-1]
    return value


_ENV_READ = re.compile(r"\benv\.([A-Za-z_]\w*)")


def env_references(block_text: str) -> list[str]:
    """Environment variables a block reads (``env.NAME``)."""
    return sorted(set(_ENV_READ.findall(block_text)))

# The option before ``env.X`` names where requests go (v0's ``base_url env.X``, v1's ``base_url=env.X``).
_URL_KEY_BEFORE = re.compile(r"\b(?:base_url|url|endpoint|endpoint_url|api_base)\s*[:=]?\s*$")


def url_references(block_text: str) -> tuple[set[str], set[str]]:
    """(the variables a block reads only as the URL requests go to, every other variable it reads).

    A URL is shown (only the credentials it may carry are secret); every other value a client reads is a secret.
    """
    urls: set[str] = set()
    others: set[str] = set()
    for match in _ENV_READ.finditer(block_text):
        line_start = block_text.rfind("\n", 0, match.start()) + 1
        before = block_text[line_start:match.start()]
        (urls if _URL_KEY_BEFORE.search(before) else others).add(match.group(1))
    return urls - others, others


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


_ALIASED = re.compile(r'^[ \t]*(\w+)\b[^\n]*?@alias\(\s*(?:"([^"\n]*)"|([\w\-.]+))\s*\)', re.M)


def aliases(block_text: str) -> dict[str, str]:
    """A class's fields (or an enum's values) renamed with ``@alias``: name -> the name a model answers with."""
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _ALIASED.finditer(block_text)}


_OPTION = re.compile(r"""("?)([\w.\-]+)\1\s*[=:]?\s*(?:#+"(.*?)"#+|"((?:[^"\\]|\\.)*)")""")
_SECRET_KEY = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|SIGNATURE)", re.I)
_PLAIN_HEADERS = {"content-type", "accept", "user-agent", "anthropic-version", "anthropic-beta", "openai-beta"}


def _without_comment(line: str) -> str:
    """A line without its ``//`` comment (one inside a string, as in a URL, stays)."""
    quoted = False
    for at, char in enumerate(line):
        if char == '"' and (at == 0 or line[at - 1] != "\\"):
            quoted = not quoted
        elif not quoted and line.startswith("//", at):
            return line[:at]
    return line


def literal_secrets(block_text: str) -> tuple[set[str], set[str]]:
    """(the literal values a client block writes in a secret position, the literal URLs it writes).

    A secret position: an option whose name says it holds a secret (``api_key``, ``session_token``, ...) or a
    value inside ``headers`` (but a plain header's, such as ``anthropic-version``). A URL's credentials
    (``user:password@``, query values) are the caller's to take from the URLs.
    """
    secrets: set[str] = set()
    urls: set[str] = set()
    inside: list[str] = []  # the names of the { } blocks the line is in
    for line in block_text.splitlines():
        code = _without_comment(line)
        for match in _OPTION.finditer(code):
            key = match.group(2)
            value = match.group(3) if match.group(3) is not None else match.group(4)
            if _SECRET_KEY.search(key) or ("headers" in inside and key.lower() not in _PLAIN_HEADERS):
                secrets.add(value)
            elif "://" in value:
                urls.add(value)
        for opened in re.finditer(r"([\w\-]*)\s*\{|\}", code):
            if opened.group(0) == "}":
                if inside:
                    inside.pop()
            else:
                inside.append(opened.group(1))
    return secrets, urls
