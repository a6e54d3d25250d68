"""The rendered prompt and the HTTP request of a call, shown without calling the LLM; secrets redacted."""

from __future__ import annotations

import html
import json
import shlex
from typing import Any

from baml_magic._providers import Message
from baml_magic._redact import redact, redact_headers


class PromptView:
    """A call's prompt: its messages with their roles (HTML in a notebook, text in a terminal)."""

    def __init__(self, function: str, messages: list[Message]) -> None:
        self.function = function
        self.messages = [Message(m.role, redact(m.content)) for m in messages]

    def __repr__(self) -> str:
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.messages)

    def _repr_html_(self) -> str:
        rows = "".join(
            f'<div class="baml-magic-message" data-role="{html.escape(m.role)}" style="margin:.4em 0">'
            f'<div style="font-weight:bold;font-size:85%;text-transform:uppercase;opacity:.7">{html.escape(m.role)}'
            f'</div><pre style="white-space:pre-wrap;margin:0">{html.escape(m.content)}</pre></div>'
            for m in self.messages
        )
        return f'<div class="baml-magic-prompt">{rows}</div>'


class RequestView:
    """The HTTP request a call would send: method, url, headers and body, with ``as_curl()``."""

    def __init__(self, method: str, url: str, headers: dict[str, Any], body: Any) -> None:
        self.method = method
        self.url = redact(url)
        self.headers = redact_headers(headers)
        self.body = json.loads(redact(json.dumps(body))) if not isinstance(body, str) else redact(body)

    @classmethod
    def from_http(cls, request: Any) -> RequestView:
        try:
            body: Any = request.body.json()
        except Exception:  # noqa: BLE001 - a body that is not JSON is shown as text
            body = request.body.text()
        headers = {k: v for k, v in dict(request.headers).items() if k.lower() != "baml-original-url"}
        return cls(request.method, request.url, headers, body)

    def body_text(self) -> str:
        return self.body if isinstance(self.body, str) else json.dumps(self.body, indent=2)

    def as_curl(self) -> str:
        parts = ["curl", "-X", self.method, shlex.quote(self.url)]
        for key, value in self.headers.items():
            parts += ["-H", shlex.quote(f"{key}: {value}")]
        body = self.body if isinstance(self.body, str) else json.dumps(self.body)
        parts += ["-d", shlex.quote(body)]
        return " ".join(parts)

    def __repr__(self) -> str:
        headers = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.url}\n{headers}\n\n{self.body_text()}"

    def _repr_html_(self) -> str:
        return f'<pre class="baml-magic-request" style="white-space:pre-wrap">{html.escape(repr(self))}</pre>'
