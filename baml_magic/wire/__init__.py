"""The providers' wire: what each answer says besides its text, read by the family its client's provider speaks.

One reader per family (OpenAI chat, OpenAI Responses, Anthropic, Gemini / Vertex, Bedrock), chosen by the
BAML provider of the client that answered, never guessed from an event's shape; only an answer whose
provider is not known (a batch file's line, say) is read by the shape it has. Adding a provider's usage or
stop reasons is one module here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from baml_magic._types import Usage
from baml_magic.wire import anthropic, bedrock, google, openai_chat, openai_responses
from baml_magic.wire._facts import Facts
from baml_magic.wire._providers import SHORTHAND_KEYS, Media, Message, messages_of
from baml_magic.wire._reply import CUT_AT_LIMIT, FILTERED, Reply
from baml_magic.wire.ratelimits import retry_after

__all__ = ["CUT_AT_LIMIT", "FILTERED", "SHORTHAND_KEYS", "Facts", "Media", "Message", "Reply", "family", "messages_of",
           "parse_events", "read_body", "read_reasoning", "read_stream", "retry_after", "total"]

FAMILIES: dict[str, ModuleType] = {
    "openai-responses": openai_responses,
    "anthropic": anthropic,
    "google-ai": google,
    "vertex-ai": google,
    "aws-bedrock": bedrock,
}


def family(provider: str | None) -> ModuleType | None:
    """The reader of a BAML provider's answers (OpenAI chat for the OpenAI-compatible rest); None: not known."""
    if not provider:
        return None
    return FAMILIES.get(provider.lower(), openai_chat)


def _by_shape(first: Any) -> ModuleType | None:
    if not isinstance(first, dict):
        return None
    if "choices" in first or str(first.get("object", "")).startswith("chat.completion"):
        return openai_chat
    if first.get("object") == "response" or str(first.get("type", "")).startswith("response."):
        return openai_responses
    if isinstance(first.get("type"), str):
        return anthropic
    if "candidates" in first or "usageMetadata" in first or "promptFeedback" in first:
        return google
    if "stopReason" in first or ("output" in first and "usage" in first):
        return bedrock
    return None


def read_body(body: Any, provider: str | None = None) -> Reply:
    """The facts of a whole (not streamed) answer body."""
    if not isinstance(body, dict):
        return Reply()
    reader = family(provider) or _by_shape(body)
    return reader.body(body) if reader is not None else Reply()


def read_stream(events: Iterable[Any], provider: str | None = None) -> Reply:
    """The facts of a streamed answer, from its events in order (each a parsed JSON value or the raw text)."""
    events = list(events)
    reader = family(provider) or next((r for r in map(_by_shape, events) if r is not None), None)
    read: Callable[[list[Any]], Reply] | None = getattr(reader, "stream", None)
    return read(events) if read is not None else Reply()


REASONING_MARKERS = ("reasoning", "thinking", "thought")  # a stream event without one of these holds no thinking


def read_reasoning(texts: Iterable[str], provider: str | None = None) -> str | None:
    """The thinking of a streamed answer, from every event's text (only the events that may hold some are
    parsed), read by its provider's family; None when it sent none."""
    events = parse_events(t for t in texts if any(marker in t for marker in REASONING_MARKERS))
    reader = family(provider) or next((r for r in map(_by_shape, events) if r is not None), None)
    read: Callable[[list[Any]], str] | None = getattr(reader, "reasoning", None)
    return (read(events) or None) if read is not None and events else None


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
                 add([u.cached_input_tokens for u in known]) or None,
                 reasoning_tokens=add([u.reasoning_tokens for u in known]))
