"""AWS Bedrock's Converse and ConverseStream (BAML's ``aws-bedrock``), as the Bedrock API reference documents them.

A whole answer: ``output.message.content[]``, ``stopReason`` (``end_turn``, ``max_tokens``, ``tool_use``,
``guardrail_intervened``, ``content_filtered``, ``stop_sequence``), ``usage`` with ``inputTokens`` (which
excludes ``cacheReadInputTokens`` and ``cacheWriteInputTokens``) and ``outputTokens``. A stream's events
(AWS's binary event stream, each decoded to its JSON payload, with or without its event type as the key):
``messageStart``, ``contentBlockDelta``, ``messageStop`` (``stopReason``), ``metadata`` (``usage``). baml-py's
collector logs each event as the AWS SDK's own rendering of it instead (``{"debug": "MessageStop(MessageStopEvent {
stop_reason: EndTurn, ... })"}``, ``Metadata(... TokenUsage { input_tokens: 21, ... })``): that form is read too.
"""

from __future__ import annotations

import re
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


_SDK_STOP = re.compile(r"MessageStop\(MessageStopEvent \{ stop_reason: (?:Unknown\(\w+\(\"?)?\"?(\w+)")
_SDK_COUNT = re.compile(r"\b(input_tokens|output_tokens|cache_read_input_tokens|cache_write_input_tokens): "
                        r"(?:Some\()?(\d+)")
_SDK_NAMES = {"input_tokens": "inputTokens", "output_tokens": "outputTokens",
              "cache_read_input_tokens": "cacheReadInputTokens", "cache_write_input_tokens": "cacheWriteInputTokens"}


def _snake(name: str) -> str:
    """The SDK's ``GuardrailIntervened`` as the API's ``guardrail_intervened``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _from_sdk(text: str) -> dict[str, Any]:
    """An event as the AWS SDK renders it, as the API's JSON payload (only what is read here)."""
    if text.startswith("MessageStop("):
        found = _SDK_STOP.match(text)
        return {"stopReason": _snake(found.group(1))} if found else {}
    if text.startswith("Metadata("):
        return {"usage": {_SDK_NAMES[name]: int(n) for name, n in _SDK_COUNT.findall(text)}}
    return {}


def stream(events: list[Any]) -> Reply:
    counts: Usage | None = None
    finish = None
    for event in events:
        if not isinstance(event, dict):
            continue
        if isinstance(event.get("debug"), str):
            event = _from_sdk(event["debug"])
        for inner in [event[k] for k in EVENTS if isinstance(event.get(k), dict)] or [event]:
            if inner.get("stopReason"):
                finish = str(inner["stopReason"])
            if isinstance(inner.get("usage"), dict):
                counts = usage(inner["usage"])
    return Reply(counts, finish, None, None, styled=True, ended=finish is not None)
