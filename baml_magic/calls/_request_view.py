"""The rendered prompt and the HTTP request of a call, shown without calling the LLM; secrets redacted."""

from __future__ import annotations

import html
import json
import re
import shlex
from typing import Any

from baml_magic._redact import by_name, redact, redact_headers
from baml_magic.wire import Media, Message

EMBED_LIMIT = 256 * 1024  # media up to this size is shown inline; larger media as a chip (no megabytes in outputs)
SHORTEN_OVER = 200  # characters of base64 past which a request display shortens it
_BASE64 = re.compile(r"(data:[\w.+/-]*;base64,)?([A-Za-z0-9+/]{" + str(SHORTEN_OVER) + r",}={0,2})")


def _size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return ""


def media_html(media: Media) -> str:
    """A thumbnail for an image, a player for audio, a chip for the rest (or for anything large)."""
    label = html.escape(" · ".join(x for x in (media.media_type or media.kind, _size(media.size)) if x))
    # what is embedded is the source (a preview may be smaller than the media it stands for)
    small = bool(media.source) and (not media.source.startswith("data:") or len(media.source) * 3 // 4 <= EMBED_LIMIT)
    source = html.escape(media.source, quote=True)
    if media.kind == "image" and small:
        return (f'<img class="baml-magic-media" data-kind="image" src="{source}" title="{label}" '
                f'style="max-height:96px;max-width:160px;border:1px solid #ccc;margin:.2em">')
    if media.kind == "audio" and small:
        return f'<audio class="baml-magic-media" data-kind="audio" controls src="{source}" title="{label}"></audio>'
    return (f'<span class="baml-magic-media" data-kind="{html.escape(media.kind)}" style="display:inline-block;'
            f'padding:.1em .5em;border:1px solid #ccc;border-radius:1em;font-size:85%">{html.escape(media.kind)}'
            f"{': ' + label if label else ''}</span>")


class PromptView:
    """A call's prompt: its messages with their roles and media (HTML in a notebook, text in a terminal)."""

    def __init__(self, function: str, messages: list[Message]) -> None:
        self.function = function
        self.messages = [Message(m.role, redact(m.content), m.media) for m in messages]

    def __repr__(self) -> str:
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.messages)

    def _repr_html_(self) -> str:
        rows = "".join(
            f'<div class="baml-magic-message" data-role="{html.escape(m.role)}" style="margin:.4em 0">'
            f'<div style="font-weight:bold;font-size:85%;text-transform:uppercase;opacity:.7">{html.escape(m.role)}'
            f'</div><pre style="white-space:pre-wrap;margin:0">{html.escape(m.content)}</pre>'
            f'{"".join(media_html(x) for x in m.media)}</div>'
            for m in self.messages
        )
        return f'<div class="baml-magic-prompt">{rows}</div>'


_MARK = "\x00{}\x00"  # a variable's place in a command's text, until it is quoted
_VARIABLE = re.compile("\x00([A-Za-z_][A-Za-z0-9_]*)\x00")


def _quoted(text: str) -> str:
    """A shell word: single-quoted, or double-quoted with ``${NAME}`` left for the shell where a variable stands."""
    if "\x00" not in text:
        return shlex.quote(text)
    escaped = re.sub(r'([\\"$`])', r"\\\1", text)
    return '"' + _VARIABLE.sub(lambda m: "${" + m.group(1) + "}", escaped) + '"'


def _decoded_size(encoded: str) -> int:
    return len(encoded) * 3 // 4 - encoded[-2:].count("=")


def _shorten(value: Any) -> Any:
    """Long base64 payloads (data URLs, media fields) cut to their start and their size."""
    if isinstance(value, str):
        return _BASE64.sub(lambda m: f"{m.group(1) or ''}{m.group(2)[:24]}…[{_decoded_size(m.group(2))} bytes]", value)
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    return value


class RequestView:
    """The HTTP request a call would send: method, url, headers and body, with ``as_curl()``."""

    def __init__(self, method: str, url: str, headers: dict[str, Any], body: Any) -> None:
        self.method = method
        self.url = redact(url)
        self.headers = redact_headers(headers)
        shown = json.loads(redact(json.dumps(body))) if not isinstance(body, str) else redact(body)
        self.body = _shorten(shown)  # media as a few characters and its size, never megabytes of base64
        # For as_curl: each secret the clients read from a variable as that variable, the rest redacted (a header
        # value that names no variable is redacted whole, as in the view).
        named = {k: by_name(str(v), _MARK.format) for k, v in headers.items()}
        self._curl_headers = [f"{k}: {v if _VARIABLE.search(v) else self.headers[k]}" for k, v in named.items()]
        self._curl_url = by_name(url, _MARK.format)
        self._curl_body = by_name(body if isinstance(body, str) else json.dumps(_shorten(body)), _MARK.format)

    @classmethod
    def from_http(cls, request: Any) -> RequestView:
        try:
            body: Any = request.body.json()
        except Exception:  # noqa: BLE001 - a body that is not JSON is shown as text
            body = request.body.text()
        headers = {k: v for k, v in dict(request.headers).items() if k.lower() != "baml-original-url"}
        return cls(request.method, request.url, headers, body)

    def body_text(self) -> str:
        """The request's JSON body as text (media shortened to its start and size)."""
        return self.body if isinstance(self.body, str) else json.dumps(self.body, indent=2)

    def as_curl(self) -> str:
        """The request as a ``curl`` command line that runs as printed: a secret read from an environment variable
        appears as that variable (``"authorization: Bearer ${OPENAI_API_KEY}"``), any other secret redacted."""
        parts = ["curl", "-X", self.method, _quoted(redact(self._curl_url))]
        for header in self._curl_headers:
            parts += ["-H", _quoted(redact(header))]
        parts += ["-d", _quoted(redact(self._curl_body))]
        return " ".join(parts)

    def __repr__(self) -> str:
        headers = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.url}\n{headers}\n\n{self.body_text()}"

    def _repr_html_(self) -> str:
        return f'<pre class="baml-magic-request" style="white-space:pre-wrap">{html.escape(repr(self))}</pre>'
