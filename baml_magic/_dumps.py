"""Rust ``Debug`` dumps in BAML's messages, read as one line a person can act on.

BAML puts whole structures in some transport errors: ``LLMErrorResponse { client: .., prompt: ..,
start_time: SystemTime { .. }, message: "..", code: .., raw_response: Some("<the whole body>") }`` (a
10 MB body makes a 10 MB line) and ``reqwest::Error { kind: Decode, url: .., source: hyper::Error(..) }``.
Each becomes what failed, the HTTP code, the cause and the first bytes of the body; any other line
longer than a screen is cut, saying how long it was.
"""

from __future__ import annotations

import re

LINE_MOST = 400  # a longer line is cut to about a line's width
BODY_SHOWN = 120  # characters of a body quoted in a summary
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_LLM = "LLMErrorResponse {"
_REQWEST = "reqwest::Error {"


def _field(text: str, name: str, pattern: str) -> str | None:
    found = re.search(rf"\b{name}: {pattern}", text)
    return found.group(1) if found else None


def _quoted_start(text: str, at: int, most: int) -> tuple[str, int]:
    """The first ``most`` characters of the last field's string literal, which starts at ``at``, and its length
    (it ends at the dump's last quote: the body comes last)."""
    end = max(text.rfind('"'), at)
    return text[at:min(end, at + most)], end - at


def _llm_error(text: str) -> str:
    head, _, dump = text.partition(_LLM)
    # The fields before raw_response are short; the body, the only long one, comes last.
    body_at = dump.find('raw_response: Some("')
    fields = dump if body_at < 0 else dump[:body_at]
    message = _field(fields, "message", _QUOTED) or "no message"
    code = _field(fields, "code", r"([A-Za-z]+(?:\(\d+\))?)")
    summary = f"{head.strip()} {message}".strip() + (f" (code {code})" if code else "")
    if body_at >= 0:
        shown, length = _quoted_start(dump, body_at + len('raw_response: Some("'), BODY_SHOWN)
        more = f"… ({length:,} characters in all)" if length > BODY_SHOWN else ""
        summary += f"; the answer began: {shown!r}{more}" if shown else "; the answer was empty"
    return summary


def _reqwest_error(text: str) -> str:
    head, _, dump = text.partition(_REQWEST)
    kind = _field(dump, "kind", r"(\w+)") or "Request"
    url = _field(dump, "url", _QUOTED)
    source = dump.partition("source:")[2]
    cause = _field(source, "message", _QUOTED)
    if cause is None:
        names = re.findall(r"\b([A-Z][A-Za-z]+)\b", source)
        cause = names[-1] if names else None
    what = {"Decode": "reading the answer failed", "Body": "reading the answer failed",
            "Connect": "connecting failed", "Timeout": "the request timed out",
            "Request": "the request failed"}.get(kind, f"the request failed ({kind})")
    where = f" ({url})" if url else ""
    return f"{head.strip()} {what}{where}: {cause or 'no cause given'}".strip()


def _cut(line: str) -> str:
    if len(line) <= LINE_MOST:
        return line
    return f"{line[:LINE_MOST - 100]}… ({len(line):,} characters in all)"


def readable(text: str) -> str:
    """``text`` with BAML's Debug dumps summarised and every over-long line cut."""
    lines = []
    for line in text.splitlines() or [text]:
        if _LLM in line:
            line = _llm_error(line)
        elif _REQWEST in line:
            line = _reqwest_error(line)
        lines.append(_cut(line))
    return "\n".join(lines)
