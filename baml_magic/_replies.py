"""What a provider's answer says besides its text: token counts, why it stopped, a refusal, an end marker.

Read from the wire as each provider documents it, not from what BAML's collector made of it
(BAML 0.226 keeps Anthropic's ``message_start`` output count of 1, and reads no cache tokens):

- OpenAI chat completions (``chat.completion`` / ``chat.completion.chunk``; Azure OpenAI and
  OpenAI-compatible servers alike): ``usage`` with ``prompt_tokens`` (cached ones included,
  ``prompt_tokens_details.cached_tokens``) and ``completion_tokens``, sent in a stream only when
  the request asked (``stream_options.include_usage``), in a last chunk with empty ``choices``;
  ``finish_reason`` (``stop``, ``length``, ``content_filter``, ``tool_calls``); ``refusal`` beside a
  null ``content``; ``data: [DONE]`` at the end (some compatible servers omit it).
- Anthropic messages: ``message_start.message.usage`` holds the input counts (``input_tokens``
  excludes ``cache_read_input_tokens`` and ``cache_creation_input_tokens``), ``message_delta.usage``
  the cumulative ``output_tokens`` (and may repeat the input counts); ``stop_reason`` (``end_turn``,
  ``max_tokens``, ``refusal``); ``message_stop`` at the end; an ``error`` event mid-stream.
- Google Gemini ``generateContent``: ``usageMetadata`` (``promptTokenCount``, ``candidatesTokenCount``,
  ``thoughtsTokenCount``, ``cachedContentTokenCount``), ``candidates[].finishReason``.

Input counts here include cached input, as OpenTelemetry's ``gen_ai.usage.input_tokens`` does.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from baml_magic._types import Usage

CUT_AT_LIMIT = {"length", "max_tokens", "MAX_TOKENS", "model_context_window_exceeded"}
FILTERED = {"content_filter", "refusal", "SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
            "IMAGE_SAFETY"}


@dataclass(frozen=True)
class Reply:
    """The facts of one answer: usage (None: not reported), the stop reason, a refusal, the model, the end."""

    usage: Usage | None = None
    finish: str | None = None
    refusal: str | None = None
    model: str | None = None
    error: str | None = None  # an error the provider sent inside a stream
    styled: bool = False  # the answer had a known provider's shape
    ended: bool = False  # the provider's end marker (or a stop reason) was seen

    @property
    def cut_short(self) -> bool:
        """A stream in a known shape that stopped before its end marker."""
        return self.styled and not self.ended

    def problem(self) -> str | None:
        """Why the answer is not what was asked, in words, when the provider said so (None otherwise)."""
        if self.refusal:
            return f"the model refused: {self.refusal!r}"
        if self.error:
            return f"the provider sent an error mid-stream: {self.error}"
        if self.finish in CUT_AT_LIMIT:
            return (f"the answer was cut at the token limit (finish reason {self.finish!r}); raise the client's "
                    "max_tokens or ask for less")
        if self.finish in FILTERED:
            return f"the provider stopped the answer (finish reason {self.finish!r})"
        return None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _openai_usage(usage: dict[str, Any]) -> Usage:
    cached = _int((usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
    return Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")), cached or None)


def _anthropic_usage(usage: dict[str, Any], before: Usage | None) -> Usage:
    """Anthropic's counts; a ``message_delta`` may carry only ``output_tokens``: the rest stays as it was."""
    keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    total_in: int | None
    if any(isinstance(usage.get(k), int) for k in keys):
        read = _int(usage.get("cache_read_input_tokens"))
        total_in = _int(usage.get("input_tokens")) + read + _int(usage.get("cache_creation_input_tokens"))
        cached: int | None = read or None
    else:
        total_in = before.input_tokens if before is not None else None
        cached = before.cached_input_tokens if before is not None else None
    out = usage.get("output_tokens")
    output = _int(out) if isinstance(out, int) else (before.output_tokens if before is not None else None)
    return Usage(total_in, output, cached)


def _google_usage(meta: dict[str, Any]) -> Usage:
    output = _int(meta.get("candidatesTokenCount")) + _int(meta.get("thoughtsTokenCount"))
    return Usage(_int(meta.get("promptTokenCount")), output, _int(meta.get("cachedContentTokenCount")) or None)


def read_body(body: Any) -> Reply:
    """The facts of a whole (not streamed) answer body."""
    if not isinstance(body, dict):
        return Reply()
    model = body.get("model") or body.get("modelVersion")
    model = str(model) if model else None
    if "choices" in body:  # OpenAI style
        choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
        first = choices[0] if choices else {}
        message = first.get("message") or {}
        usage = _openai_usage(body["usage"]) if isinstance(body.get("usage"), dict) else None
        return Reply(usage, first.get("finish_reason"), message.get("refusal") or None, model, styled=True,
                     ended=True)
    if body.get("type") == "message":  # Anthropic
        usage = _anthropic_usage(body["usage"], None) if isinstance(body.get("usage"), dict) else None
        return Reply(usage, body.get("stop_reason"), None, model, styled=True, ended=True)
    if "candidates" in body or "usageMetadata" in body:  # Google
        candidates = [c for c in body.get("candidates") or [] if isinstance(c, dict)]
        usage = _google_usage(body["usageMetadata"]) if isinstance(body.get("usageMetadata"), dict) else None
        finish = candidates[0].get("finishReason") if candidates else None
        blocked = (body.get("promptFeedback") or {}).get("blockReason")
        return Reply(usage, finish or blocked, None, model, styled=True, ended=True)
    return Reply()


def read_stream(events: Iterable[Any]) -> Reply:
    """The facts of a streamed answer, from its events in order (each a parsed JSON value or the raw text)."""
    usage: Usage | None = None
    finish = model = error = None
    refusal: list[str] = []
    styled = ended = False
    for event in events:
        if isinstance(event, str):
            ended = ended or event.strip() == "[DONE]"
            continue
        if not isinstance(event, dict):
            continue
        model = model or _model_of(event)
        if "choices" in event or event.get("object") == "chat.completion.chunk":  # OpenAI style
            styled = True
            if isinstance(event.get("usage"), dict):
                usage = _openai_usage(event["usage"])
            for choice in event.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta") or {}
                if isinstance(delta.get("refusal"), str):
                    refusal.append(delta["refusal"])
                if choice.get("finish_reason"):
                    finish, ended = choice["finish_reason"], True
        elif isinstance(event.get("type"), str):  # Anthropic style
            styled = True
            kind = event["type"]
            if kind == "message_start":
                usage = _anthropic_usage((event.get("message") or {}).get("usage") or {}, usage)
            elif kind == "message_delta":
                usage = _anthropic_usage(event.get("usage") or {}, usage)
                finish = (event.get("delta") or {}).get("stop_reason") or finish
            elif kind == "message_stop":
                ended = True
            elif kind == "error":
                detail = event.get("error") or {}
                error = f"{detail.get('type', 'error')}: {detail.get('message', '')}".strip(": ")
        elif "candidates" in event or "usageMetadata" in event:  # Google
            styled = True
            if isinstance(event.get("usageMetadata"), dict):
                usage = _google_usage(event["usageMetadata"])
            for candidate in event.get("candidates") or []:
                if isinstance(candidate, dict) and candidate.get("finishReason"):
                    finish, ended = candidate["finishReason"], True
    return Reply(usage, finish, "".join(refusal) or None, model, error, styled, ended and error is None)


def _model_of(event: dict[str, Any]) -> str | None:
    model = event.get("model") or event.get("modelVersion") or (event.get("message") or {}).get("model")
    return str(model) if model else None


def parse_events(texts: Iterable[str]) -> list[Any]:
    """Stream events' data as JSON values where they parse, else as their text (``[DONE]``)."""
    out: list[Any] = []
    for text in texts:
        try:
            out.append(json.loads(text))
        except ValueError:
            out.append(text)
    return out


def total(usages: Iterable[Usage | None]) -> Usage | None:
    """The sum of several answers' usage (the attempts of one call); None when none reported any."""
    known = [u for u in usages if u is not None]
    if not known:
        return None

    def add(values: list[int | None]) -> int | None:
        present = [v for v in values if v is not None]
        return sum(present) if present else None

    return Usage(add([u.input_tokens for u in known]), add([u.output_tokens for u in known]),
                 add([u.cached_input_tokens for u in known]) or None)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float | None:
    """OpenAI's ``x-ratelimit-reset-*`` durations: ``500ms``, ``1s``, ``1m2.5s``, ``6m0s``, ``2h``."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def retry_after(headers: dict[str, Any]) -> float | None:
    """Seconds a rate-limited answer asks to wait, as the official SDKs read it (None: it does not say).

    ``retry-after-ms`` first, then ``retry-after`` (seconds or an HTTP date), then OpenAI's
    ``x-ratelimit-reset-requests`` / ``-tokens`` durations (of the limit that ran out, else the later).
    """
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    with_ms = lower.get("retry-after-ms")
    if with_ms is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(with_ms) / 1000)
    value = lower.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    resets = {}
    for kind in ("requests", "tokens"):
        reset = _duration(lower.get(f"x-ratelimit-reset-{kind}", ""))
        if reset is not None:
            resets[kind] = reset
    spent = [resets[k] for k in resets if lower.get(f"x-ratelimit-remaining-{k}", "").strip() == "0"]
    if spent or resets:
        return max(spent or resets.values())
    return None
