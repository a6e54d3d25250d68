"""Google's Gemini ``generateContent`` (BAML's ``google-ai`` and ``vertex-ai``), as its API reference documents it.

``usageMetadata``: ``promptTokenCount`` (cached included, ``cachedContentTokenCount``), ``candidatesTokenCount``
and ``thoughtsTokenCount`` (both output); ``candidates[].finishReason`` (``STOP``, ``MAX_TOKENS``, ``SAFETY``,
``RECITATION``, ...). A blocked prompt has ``promptFeedback.blockReason`` and no candidates at all. A stream
is a sequence of such objects. Vertex AI serves Anthropic's models in Anthropic's own shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from baml_magic._types import Usage
from baml_magic.wire import anthropic
from baml_magic.wire._reply import Reply
from baml_magic.wire._shared import integer, model_of


def usage(meta: dict[str, Any]) -> Usage:
    output = integer(meta.get("candidatesTokenCount")) + integer(meta.get("thoughtsTokenCount"))
    thoughts = meta.get("thoughtsTokenCount")
    return Usage(integer(meta.get("promptTokenCount")), output, integer(meta.get("cachedContentTokenCount")) or None,
                 reasoning_tokens=integer(thoughts) if isinstance(thoughts, int) else None)


def reasoning(events: list[Any]) -> str:
    """The thinking of an answer's (or a stream's) thought parts (``thought: true``), in order."""
    if any(_anthropic_shaped(e) for e in events):
        return anthropic.reasoning(events)
    return "".join(str(part.get("text") or "") for event in events if isinstance(event, dict)
                   for candidate in (event.get("candidates") or [])[:1] if isinstance(candidate, dict)
                   for part in (candidate.get("content") or {}).get("parts") or []
                   if isinstance(part, dict) and part.get("thought") is True)


def _anthropic_shaped(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get("type"), str)


def body(answer: dict[str, Any]) -> Reply:
    if _anthropic_shaped(answer):
        return anthropic.body(answer)
    return dataclasses.replace(stream([answer]), reasoning=reasoning([answer]) or None)


def stream(events: list[Any]) -> Reply:
    if any(_anthropic_shaped(e) for e in events):
        return anthropic.stream(events)
    counts: Usage | None = None
    finish = blocked = model = error = None
    for event in events:
        if not isinstance(event, dict):
            continue
        model = model or model_of(event)
        if isinstance(event.get("usageMetadata"), dict):
            counts = usage(event["usageMetadata"])
        feedback = event.get("promptFeedback") or {}
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            blocked = str(feedback["blockReason"])
        if isinstance(event.get("error"), dict):
            error = f"{event['error'].get('status', 'error')}: {event['error'].get('message', '')}"
        for candidate in event.get("candidates") or []:
            if isinstance(candidate, dict) and candidate.get("finishReason"):
                finish = candidate["finishReason"]
    return Reply(counts, finish, None, model, error, True, (finish is not None or blocked is not None)
                 and error is None, blocked)
