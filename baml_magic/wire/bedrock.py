"""AWS Bedrock's Converse and ConverseStream (BAML's ``aws-bedrock``), as the Bedrock API reference documents them.

A whole answer: ``output.message.content[]``, ``stopReason`` (``end_turn``, ``max_tokens``, ``tool_use``,
``guardrail_intervened``, ``content_filtered``, ``stop_sequence``), ``usage`` with ``inputTokens`` (which
excludes ``cacheReadInputTokens`` and ``cacheWriteInputTokens``) and ``outputTokens``. A stream's events
(AWS's binary event stream, each decoded to its JSON payload, with or without its event type as the key):
``messageStart``, ``contentBlockDelta``, ``messageStop`` (``stopReason``), ``metadata`` (``usage``).
"""

from __future__ import annotations

from typing import Any

from baml_magic._types import Usage
from baml_magic.wire._reply import Reply
from baml_magic.wire._shared import integer

EVENTS = ("messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata")


def usage(counts: dict[str, Any]) -> Usage:
    read = integer(counts.get("cacheReadInputTokens"))
    total_in = integer(counts.get("inputTokens")) + read + integer(counts.get("cacheWriteInputTokens"))
    return Usage(total_in, integer(counts.get("outputTokens")), read or None)


def body(answer: dict[str, Any]) -> Reply:
    counts = usage(answer["usage"]) if isinstance(answer.get("usage"), dict) else None
    return Reply(counts, answer.get("stopReason"), None, None, styled=True, ended=True)


def stream(events: list[Any]) -> Reply:
    counts: Usage | None = None
    finish = None
    for event in events:
        if not isinstance(event, dict):
            continue
        for inner in [event[k] for k in EVENTS if isinstance(event.get(k), dict)] or [event]:
            if inner.get("stopReason"):
                finish = str(inner["stopReason"])
            if isinstance(inner.get("usage"), dict):
                counts = usage(inner["usage"])
    return Reply(counts, finish, None, None, styled=True, ended=finish is not None)
