"""``Fn.batch``: many calls through the provider's own batch API, built and parsed by BAML.

BAML renders each request (``build_request``); they go up as one batch (OpenAI-compatible
``/v1/files`` + ``/v1/batches``, or Anthropic's ``/v1/messages/batches``); the answers come back
in a file and BAML parses each (``parse_llm_response``) into the function's type. A batch lives at
the provider, so a handle can be made again from its id in a new kernel. Requests carry their
input's index as ``custom_id``, so results come back in input order.
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from baml_magic._errors import ShortError
from baml_magic._live import Live
from baml_magic._prices import Price, cost, money
from baml_magic._redact import redact, remember_headers
from baml_magic._types import Usage
from baml_magic._views import ProgressView, wants_widgets

POLL_SECONDS = 1.0
BATCH_DISCOUNT = 0.5  # OpenAI's and Anthropic's batch APIs cost half their standard price
_ENDED = {"completed", "cancelled", "failed", "expired", "ended"}


class BatchError(ShortError):
    """A batch could not be sent, or its provider has no batch API here."""


class BatchItemError(ShortError):
    """One item of a batch failed at the provider (or was cancelled before it ran)."""


@dataclass(frozen=True)
class Wire:
    """Where and how a client's provider takes batches: its API style, base URL and headers (never shown)."""

    style: Literal["openai", "anthropic"]
    base: str
    headers: dict[str, str] = field(repr=False)

    @classmethod
    def of(cls, request: Any, client: str | None) -> Wire:
        url = str(request.url).split("?", 1)[0].rstrip("/")
        headers = {str(k): str(v) for k, v in dict(request.headers).items()}
        remember_headers(headers)
        headers.pop("baml-original-url", None)
        if url.endswith("/chat/completions"):
            return cls("openai", url[: -len("/chat/completions")], headers)
        if url.endswith("/v1/messages"):
            return cls("anthropic", url[: -len("/messages")], headers)
        raise BatchError(f"client {client or '?'} sends to {redact(url)}, which has no batch API that baml_magic "
                         "knows (OpenAI-compatible /v1/batches or Anthropic's /v1/messages/batches); use Fn.map")

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
             timeout: float = 60.0) -> bytes:
        headers = {**self.headers, "content-type": content_type}
        if self.style == "anthropic":
            headers.setdefault("anthropic-version", "2023-06-01")
        request = urllib.request.Request(self.base + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise BatchError(redact(f"{method} {path}: HTTP {exc.code} {detail}")) from None
        except urllib.error.URLError as exc:
            raise BatchError(redact(f"{method} {path}: {exc.reason}")) from None

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        return json.loads(self.call(method, path, body))


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
            out.write(f'{{"custom_id": "{index}", "params": {body}}}'.encode())
            count += 1
        out.write(b"]}")
        created = json.loads(wire.call("POST", "/messages/batches", out.getvalue(), timeout=600))
        return str(created["id"]), count
    for index, body in bodies:
        out.write(f'{{"custom_id": "{index}", "method": "POST", "url": "/v1/chat/completions", "body": {body}}}\n'
                  .encode())
        count += 1
    form, content_type = _multipart(out.getvalue(), f"{function}.jsonl")
    uploaded = json.loads(wire.call("POST", "/files", form, content_type, timeout=600))
    created = wire.json("POST", "/batches", {"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions",
                                             "completion_window": "24h",
                                             "metadata": {"baml_magic_function": function}})
    return str(created["id"]), count


@dataclass
class Progress:
    """What the provider says of a batch: its status and counts."""

    status: str = "submitted"
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    output_file_id: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in _ENDED

    @classmethod
    def read(cls, style: str, data: dict[str, Any], total: int) -> Progress:
        counts = data.get("request_counts") or {}
        if style == "anthropic":
            known = total or sum(int(v) for v in counts.values())
            return cls(str(data.get("processing_status", "?")), known, int(counts.get("succeeded", 0)),
                       int(counts.get("errored", 0)) + int(counts.get("expired", 0)))
        return cls(str(data.get("status", "?")), int(counts.get("total") or total), int(counts.get("completed", 0)),
                   int(counts.get("failed", 0)), data.get("output_file_id"))


@dataclass
class Answers:
    """A batch's output: each item's answer text (or its error) by input index, the tokens, the model."""

    texts: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None

    def count(self, usage: dict[str, Any], model: Any) -> None:
        self.input_tokens += int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0)
        self.output_tokens += int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0)
        self.model = self.model or (str(model) if model else None)


def answers(wire: Wire, batch_id: str, progress: Progress) -> Answers:
    """What the provider answered, read from its results (Anthropic) or its output file (OpenAI)."""
    out = Answers()
    if wire.style == "anthropic":
        lines = wire.call("GET", f"/messages/batches/{batch_id}/results").decode().splitlines()
        for line in filter(None, lines):
            item = json.loads(line)
            result = item.get("result") or {}
            if result.get("type") == "succeeded":
                message = result.get("message") or {}
                out.texts[int(item["custom_id"])] = ("".join(c.get("text", "") for c in message.get("content") or []),
                                                     None)
                out.count(message.get("usage") or {}, message.get("model"))
            else:
                out.texts[int(item["custom_id"])] = (None, str(result.get("error") or result.get("type")))
        return out
    if progress.output_file_id:
        lines = wire.call("GET", f"/files/{progress.output_file_id}/content", timeout=600).decode().splitlines()
        for line in filter(None, lines):
            item = json.loads(line)
            response = item.get("response") or {}
            if response.get("status_code") == 200:
                body = response.get("body") or {}
                choices = body.get("choices") or [{}]
                out.texts[int(item["custom_id"])] = (str((choices[0].get("message") or {}).get("content") or ""), None)
                out.count(body.get("usage") or {}, body.get("model"))
            else:
                out.texts[int(item["custom_id"])] = (None, json.dumps(item.get("error") or response)[:300])
    return out


class BatchJob:
    """A batch at the provider: ``status``, ``progress``, ``result()``, ``cancel()``; shown as a live progress line.

    ``Fn.batch_resume(job.id)`` makes a new handle for it, in this kernel or another.
    """

    def __init__(self, function: str, batch_id: str, total: int, wire: Wire, parse: Callable[[str], Any], *,
                 display: str, refresh_hz: float, poll: float = POLL_SECONDS,
                 price_of: Callable[[str | None], Price | None] = lambda _: None) -> None:
        self.function = function
        self.id = batch_id
        self.wire = wire
        self.progress = Progress(total=total)
        self.started = time.monotonic()
        self._parse = parse
        self._poll = poll
        self._results: list[Any] | None = None
        self._price_of = price_of
        self.usage = Usage()  # the tokens the batch's answers report, once read
        self.cost: float | None = None  # at the providers' batch price (half the list price), when known
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        # A batch is a background job: in a terminal it prints nothing (a thread's lines would garble the prompt)
        self._view = ProgressView(self.summary(), total or None, display if wants_widgets(display) else "none")
        self._live = Live(self._draw, final=self._final, finished=lambda: self.done, refresh_hz=min(refresh_hz, 4.0),
                          name=f"{function}-batch").start()
        self._poller = threading.Thread(target=self._watch, name=f"baml_magic-batch-{batch_id}", daemon=True)
        self._poller.start()

    # -- state -----------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.progress.status

    @property
    def done(self) -> bool:
        return self.progress.ended or self._error is not None

    def summary(self) -> str:
        p = self.progress
        finished = f"{p.succeeded + p.failed}/{p.total}" if p.total else "?"
        elapsed = time.monotonic() - self.started
        problem = f" · {self._error}" if self._error is not None else ""
        tokens = f" · {(self.usage.input_tokens or 0) + (self.usage.output_tokens or 0):,} tokens" \
            if self._results is not None else ""
        spent = f" · {money(self.cost)} at batch price (half of {money(2 * self.cost)})" \
            if self.cost is not None else ""
        return (f"{self.function}.batch {self.id} · {p.status} · {finished} done · {p.failed} failed"
                f" · {elapsed:.0f} s{tokens}{spent}{problem}")

    def __repr__(self) -> str:
        return f"<BatchJob {self.summary()}>"

    def _repr_html_(self) -> str:
        import html

        return f'<div class="baml-magic-batch" data-status="{html.escape(self.status)}"><code>' \
               f"{html.escape(self.summary())}</code></div>"

    # -- polling -----------------------------------------------------------------------

    def refresh(self) -> Progress:
        """Ask the provider now."""
        path = f"/messages/batches/{self.id}" if self.wire.style == "anthropic" else f"/batches/{self.id}"
        self.progress = Progress.read(self.wire.style, self.wire.json("GET", path), self.progress.total)
        self._changed.set()
        return self.progress

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                if self.refresh().ended:
                    return
            except BatchError as exc:
                self._error = exc
                return
            self._stop.wait(self._poll)

    def _draw(self) -> None:
        p = self.progress
        self._view.update(self.summary(), p.succeeded + p.failed, p.total)

    def _final(self) -> None:
        p = self.progress
        self._view.finish(self.summary(), p.succeeded + p.failed, p.total,
                          {"text/plain": self.summary(), "text/html": self._repr_html_()})

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (interruptibly) until the batch has ended; True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._changed.wait(0.05)
            self._changed.clear()
        return True

    # -- results and cancelling --------------------------------------------------------------

    def result(self, timeout: float | None = None, *, on_error: Literal["raise", "return"] = "raise") -> list[Any]:
        """The typed values in input order once the batch has ended (errors raised, or in their slots)."""
        if not self.wait(timeout):
            raise TimeoutError(f"batch {self.id} still {self.status} after {timeout} s")
        if self._error is not None:
            raise self._error
        if self._results is None:
            got = answers(self.wire, self.id, self.progress)
            self.usage = Usage(got.input_tokens, got.output_tokens)
            full = cost(self.usage, self._price_of(got.model))
            self.cost = None if full is None else full * BATCH_DISCOUNT
            results: list[Any] = []
            for index in range(self.progress.total):
                text, error = got.texts.get(index, (None, "not answered: the batch ended before this item ran"))
                if text is None:
                    results.append(BatchItemError(f"{self.function} batch item {index}: {error}"))
                    continue
                try:
                    results.append(self._parse(text))
                except Exception as exc:  # noqa: BLE001 - a parse failure belongs to its item
                    results.append(exc)
            self._results = results
        if on_error == "raise":
            for value in self._results:
                if isinstance(value, BaseException):
                    raise value
        return list(self._results)

    def cancel(self) -> None:
        """Cancel the batch at the provider; items that finished stay in ``result(on_error="return")``."""
        path = f"/messages/batches/{self.id}/cancel" if self.wire.style == "anthropic" else f"/batches/{self.id}/cancel"
        self.progress = Progress.read(self.wire.style, self.wire.json("POST", path), self.progress.total)
        self._changed.set()
