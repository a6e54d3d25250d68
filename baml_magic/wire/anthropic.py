"""Anthropic's Messages API, as its documentation and official SDK describe it.

``message_start.message.usage`` holds the input counts (``input_tokens`` excludes ``cache_read_input_tokens``
and ``cache_creation_input_tokens``), ``message_delta.usage`` the cumulative ``output_tokens`` (it may repeat
the input counts, or carry only ``output_tokens``); ``stop_reason`` (``end_turn``, ``max_tokens``,
``tool_use``, ``refusal``, which may come after partial text, ``model_context_window_exceeded``);
``message_stop`` at the end; an ``error`` event mid-stream. Input counts here include cached input, as
OpenTelemetry's ``gen_ai.usage.input_tokens`` does. Extended thinking is a ``thinking`` content block before
the text (``thinking_delta`` events in a stream, then a ``signature_delta``), counted in ``output_tokens``.
"""

from __future__ import annotations

from typing import Any

from baml_magic._types import Usage
from baml_magic.wire._reply import Reply
from baml_magic.wire._shared import integer, model_of

INPUTS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def usage(counts: dict[str, Any], before: Usage | None = None) -> Usage:
    """The counts of one usage object; one with only ``output_tokens`` keeps the input counts ``before``."""
    total_in: int | None
    if any(isinstance(counts.get(k), int) for k in INPUTS):
        read = integer(counts.get("cache_read_input_tokens"))
        total_in = sum(integer(counts.get(k)) for k in INPUTS)
        cached: int | None = read or None
    else:
        total_in = before.input_tokens if before is not None else None
        cached = before.cached_input_tokens if before is not None else None
    out = counts.get("output_tokens")
    output = integer(out) if isinstance(out, int) else (before.output_tokens if before is not None else None)
    return Usage(total_in, output, cached)


def reasoning(events: list[Any]) -> str:
    """The thinking of a message's ``thinking`` blocks, or of a stream's ``thinking_delta`` events."""
    parts: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        delta = event.get("delta") if event.get("type") == "content_block_delta" else None
        if isinstance(delta, dict) and delta.get("type") == "thinking_delta":
            parts.append(str(delta.get("thinking") or ""))
        for block in event.get("content") or [] if event.get("type") == "message" else []:
            if isinstance(block, dict) and block.get("type") == "thinking":
                parts.append(str(block.get("thinking") or ""))
    return "".join(parts)


def body(answer: dict[str, Any]) -> Reply:
    counts = usage(answer["usage"]) if isinstance(answer.get("usage"), dict) else None
    if answer.get("type") == "error":
        detail = answer.get("error") or {}
        return Reply(None, None, None, None, f"{detail.get('type', 'error')}: {detail.get('message', '')}", True)
    return Reply(counts, answer.get("stop_reason"), None, model_of(answer), styled=True, ended=True,
                 reasoning=reasoning([answer]) or None)


def stream(events: list[Any]) -> Reply:
    counts: Usage | None = None
    finish = model = error = None
    ended = False
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            continue
        model = model or model_of(event)
        kind = event["type"]
        if kind == "message_start":
            counts = usage((event.get("message") or {}).get("usage") or {}, counts)
        elif kind == "message_delta":
            counts = usage(event.get("usage") or {}, counts)
            finish = (event.get("delta") or {}).get("stop_reason") or finish
        elif kind == "message_stop":
            ended = True
        elif kind == "error":
            detail = event.get("error") or {}
            error = f"{detail.get('type', 'error')}: {detail.get('message', '')}".strip(": ")
    return Reply(counts, finish, None, model, error, True, ended and error is None)
