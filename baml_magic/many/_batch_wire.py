"""The providers' batch APIs on the wire: where a batch goes, what is sent, what comes back.

Shapes as the providers document them (and their official SDKs type them):

- OpenAI (``openai.types.Batch``, ``FileObject``; platform.openai.com/docs/guides/batch): a JSONL
  file of ``{custom_id, method, url, body}`` uploaded to ``/v1/files`` (purpose ``batch``), then
  ``POST /v1/batches``. Answers are in ``output_file_id``; failed, expired and cancelled requests in
  ``error_file_id``; a ``failed`` batch says why in ``errors.data[]`` (``code``, ``message``, ``line``).
- Azure OpenAI (learn.microsoft.com/azure/ai-services/openai/how-to/batch): files and batches live
  at the resource (``/openai/files``, ``/openai/batches``) with ``api-version``, not under a
  deployment; each line names the deployment as its ``model`` and ``url`` is ``/chat/completions``.
- Anthropic (``anthropic.types.messages.MessageBatch``; docs.anthropic.com/en/api/creating-message-batches):
  ``POST /v1/messages/batches`` with ``{requests: [{custom_id, params}]}``; results at the batch's
  ``results_url`` as JSONL of ``{custom_id, result: {type: succeeded|errored|canceled|expired}}``;
  ``request_counts`` stay zero until the batch has ended.
"""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from baml_magic._errors import ShortError
from baml_magic._redact import redact, remember_headers
from baml_magic.wire import read_body

ENDED = {"completed", "cancelled", "failed", "expired", "ended"}
HTTP_TIMEOUT = 30.0  # seconds for any one exchange with a batch API: a server that never answers ends it
DETAIL = 300  # characters of a provider's error text shown (after its secrets are scrubbed)


class BatchError(ShortError):
    """A batch could not be sent, or its provider has no batch API here."""


class BatchItemError(ShortError):
    """One item of a batch failed at the provider (or was cancelled before it ran)."""


def shown(text: str) -> str:
    """A provider's text for a message: secrets scrubbed from the whole of it first, then shortened."""
    clean = redact(text)
    return clean if len(clean) <= DETAIL else clean[:DETAIL] + "…"


def custom_id(function: str, index: int) -> str:
    """An item's id at the provider: the function (so a batch is not read as another's) and its input's index."""
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', function)[:48]}-{index}"


def index_of(item_id: str, function: str) -> int | None:
    """The input index in an item's id, if the item is this function's (ids of before: the index alone)."""
    head, _, tail = item_id.rpartition("-")
    if head and head != custom_id(function, 0).rpartition("-")[0]:
        return None
    return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class Wire:
    """Where and how a client's provider takes batches: its API style, base URL, query and headers (never shown)."""

    style: Literal["openai", "anthropic"]
    base: str
    headers: dict[str, str] = field(repr=False)
    query: str = ""  # Azure's ?api-version=..., sent with every request
    deployment: str | None = None  # Azure: each line names its deployment as the model

    @classmethod
    def of(cls, request: Any, client: str | None) -> Wire:
        url, _, query = str(request.url).partition("?")
        url = url.rstrip("/")
        headers = {str(k): str(v) for k, v in dict(request.headers).items()}
        remember_headers(headers)
        headers.pop("baml-original-url", None)
        if url.endswith("/chat/completions"):
            base = url[: -len("/chat/completions")]
            azure = re.search(r"^(.*)/deployments/([^/]+)$", base)
            if azure:
                return cls("openai", azure.group(1), headers, "?" + query if query else "", azure.group(2))
            return cls("openai", base, headers, "?" + query if query else "")
        if url.endswith("/v1/messages"):
            return cls("anthropic", url[: -len("/messages")], headers)
        raise BatchError(f"client {client or '?'} sends to {redact(url)}, which has no batch API that baml_magic "
                         "knows (OpenAI-compatible /v1/batches or Anthropic's /v1/messages/batches); use Fn.map")

    def url(self, path: str) -> str:
        """An API path (or an absolute URL the provider gave) as the URL to ask, with the wire's query."""
        target = path if path.startswith(("http://", "https://")) else self.base + path
        if self.query and "?" not in target:
            target += self.query
        return target

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
             timeout: float = HTTP_TIMEOUT) -> bytes:
        headers = {**self.headers, "content-type": content_type}
        if self.style == "anthropic":
            headers.setdefault("anthropic-version", "2023-06-01")
        request = urllib.request.Request(self.url(path), data=body, headers=headers, method=method)
        where = path.split("?", 1)[0] if not path.startswith("http") else path.split("?", 1)[0].split("/v1", 1)[-1]
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise BatchError(shown(f"{method} {where}: HTTP {exc.code} {detail}")) from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, or no answer within the timeout
            reason = getattr(exc, "reason", exc)
            raise BatchError(shown(f"{method} {where}: {reason} (no answer within {timeout:g} s?)"
                                   if isinstance(reason, TimeoutError) else f"{method} {where}: {reason}")) from None

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        return json.loads(self.call(method, path, body))

    def status_path(self, batch_id: str, action: str = "") -> str:
        kind = "/messages/batches" if self.style == "anthropic" else "/batches"
        return f"{kind}/{batch_id}{'/' + action if action else ''}"


def _multipart(content: bytes, filename: str) -> tuple[bytes, str]:
    boundary = f"baml-magic-{uuid.uuid4().hex}"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/jsonl\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def submit(wire: Wire, bodies: Iterable[tuple[int, str]], function: str) -> tuple[str, int]:
    """Send the requests (each body as the JSON text BAML rendered) as one batch; its id and their number."""
    out = io.BytesIO()
    count = 0
    if wire.style == "anthropic":
        out.write(b'{"requests": [')
        for index, body in bodies:
            out.write(b"," if count else b"")
            out.write(f'{{"custom_id": "{custom_id(function, index)}", "params": {body}}}'.encode())
            count += 1
        out.write(b"]}")
        created = json.loads(wire.call("POST", "/messages/batches", out.getvalue(), timeout=600))
        return str(created["id"]), count
    endpoint = "/chat/completions" if wire.deployment else "/v1/chat/completions"
    for index, body in bodies:
        if wire.deployment:  # Azure: the deployment is each line's model
            body = json.dumps({**json.loads(body), "model": wire.deployment})
        out.write(f'{{"custom_id": "{custom_id(function, index)}", "method": "POST", "url": "{endpoint}", '
                  f'"body": {body}}}\n'.encode())
        count += 1
    form, content_type = _multipart(out.getvalue(), f"{function}.jsonl")
    uploaded = json.loads(wire.call("POST", "/files", form, content_type, timeout=600))
    created = wire.json("POST", "/batches", {"input_file_id": uploaded["id"], "endpoint": endpoint,
                                             "completion_window": "24h",
                                             "metadata": {"baml_magic_function": function}})
    return str(created["id"]), count


@dataclass
class Progress:
    """What the provider says of a batch: its status, counts, where its answers are, why it failed."""

    status: str = "submitted"
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    results_url: str | None = None
    errors: tuple[str, ...] = ()  # a failed batch's reasons
    function: str | None = None  # the function that sent it, where the provider keeps it (OpenAI metadata)
    counts_at_end: bool = False  # the provider counts results only once the batch has ended (Anthropic)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @classmethod
    def read(cls, style: str, data: dict[str, Any], total: int) -> Progress:
        counts = data.get("request_counts") or {}
        if style == "anthropic":
            known = total or sum(int(v or 0) for v in counts.values())
            failed = sum(int(counts.get(k) or 0) for k in ("errored", "expired", "canceled"))
            status = str(data.get("processing_status", "?"))
            return cls(status, known, int(counts.get("succeeded") or 0), failed,
                       results_url=data.get("results_url"), counts_at_end=status != "ended")
        errors = tuple(shown(f"{e.get('code') or 'error'}: {e.get('message') or ''}"
                             + (f" (line {e['line']})" if e.get("line") is not None else ""))
                       for e in ((data.get("errors") or {}).get("data") or []) if isinstance(e, dict))
        function = (data.get("metadata") or {}).get("baml_magic_function")
        return cls(str(data.get("status", "?")), int(counts.get("total") or total), int(counts.get("completed") or 0),
                   int(counts.get("failed") or 0), data.get("output_file_id"), data.get("error_file_id"),
                   errors=errors, function=str(function) if function else None)


@dataclass
class Answers:
    """A batch's output: each item's answer text (or its error) by input index, the tokens, the model."""

    texts: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    incomplete: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # why an answer is not whole
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None
    foreign: int = 0  # items whose ids are another function's

    def add(self, item_id: str, function: str, text: str | None, error: str | None) -> None:
        index = index_of(item_id, function)
        if index is None:
            self.foreign += 1
        else:
            self.texts[index] = (text, error)

    def count(self, item_id: str, function: str, body: dict[str, Any], provider: str) -> None:
        """An answer's usage and model, and why it is not whole (cut at the token limit, filtered) if it is not."""
        reply = read_body(body, provider)
        index = index_of(item_id, function)
        if reply.incomplete is not None and index is not None:
            self.incomplete[index] = (reply.incomplete, reply.finish)
        if reply.usage is not None:
            self.input_tokens += reply.usage.input_tokens or 0
            self.output_tokens += reply.usage.output_tokens or 0
        self.model = self.model or reply.model


def _error_text(error: Any) -> str:
    """``code: message`` of an error object (OpenAI's, or Anthropic's nested ``{type, error: {type, message}}``)."""
    if not isinstance(error, dict):
        return str(error)
    inner: dict[str, Any] = error["error"] if isinstance(error.get("error"), dict) else error
    kind = inner.get("code") or inner.get("type") or "error"
    return f"{kind}: {inner.get('message') or ''}".strip(": ")


def answers(wire: Wire, batch_id: str, progress: Progress, function: str) -> Answers:
    """What the provider answered: Anthropic's results, or OpenAI's output and error files."""
    out = Answers()
    if wire.style == "anthropic":
        lines = wire.call("GET", progress.results_url or wire.status_path(batch_id, "results"), timeout=600)
        for line in filter(None, lines.decode().splitlines()):
            item = json.loads(line)
            result = item.get("result") or {}
            if result.get("type") == "succeeded":
                message = result.get("message") or {}
                text = "".join(c.get("text", "") for c in message.get("content") or [] if c.get("type") == "text")
                out.add(str(item.get("custom_id")), function, text, None)
                out.count(str(item.get("custom_id")), function, message, "anthropic")
            else:
                kind = str(result.get("type"))
                why = _error_text(result["error"]) if result.get("error") else \
                    "the batch expired before this item ran" if kind == "expired" else "cancelled before it ran"
                out.add(str(item.get("custom_id")), function, None, shown(f"{kind}: {why}"))
        return out
    for file_id in filter(None, (progress.output_file_id, progress.error_file_id)):
        _read_openai_file(wire.call("GET", f"/files/{file_id}/content", timeout=600), out, function)
    return out


def _read_openai_file(content: bytes, out: Answers, function: str) -> None:
    for line in filter(None, content.decode().splitlines()):
        item = json.loads(line)
        response = item.get("response") or {}
        body: dict[str, Any] = response["body"] if isinstance(response.get("body"), dict) else {}
        if response.get("status_code") == 200 and not item.get("error"):
            choices = body.get("choices") or [{}]
            message = choices[0].get("message") or {}
            refusal = message.get("refusal")
            out.add(str(item.get("custom_id")), function, None if refusal else str(message.get("content") or ""),
                    shown(f"the model refused: {refusal!r}") if refusal else None)
            out.count(str(item.get("custom_id")), function, body, "openai")
        else:
            error = item.get("error") or body.get("error") or response
            status = f"HTTP {response['status_code']} " if response.get("status_code") else ""
            out.add(str(item.get("custom_id")), function, None, shown(status + _error_text(error)))

