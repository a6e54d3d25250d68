"""The typed core shared by calls, maps, views and hooks: statuses, usage and timing."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text, where a provider sent no counts


class Status(str, enum.Enum):
    """Where a call (or a map, or one slot of a map) stands. Compares equal to its string."""

    PENDING = "pending"
    RUNNING = "running"
    STREAMING = "streaming"
    DONE = "done"
    CANCELLED = "cancelled"
    ERROR = "error"
    STOPPED = "stopped"  # ended by its own stop_when: the partial is its value

    def __str__(self) -> str:
        return self.value


class Verdict(str, enum.Enum):
    """What came of one call of a grid: BAML's verdict on a test block (pass / fail), an ad-hoc input's answer
    (done), or an error or a cancellation. Compares equal to its string."""

    PASS = "pass"
    FAIL = "fail"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Usage:
    """Tokens a call used, as the provider reported them (None where it did not).

    ``input_tokens`` includes input read from the provider's prompt cache (``cached_input_tokens``,
    None when none was). ``estimated``: the provider sent no counts, these are counted from the text.
    ``reasoning_tokens``: of ``output_tokens``, the model's thinking, where the provider counts it apart
    (OpenAI's ``reasoning_tokens``, Gemini's ``thoughtsTokenCount``); None where it does not (Anthropic).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    estimated: bool = False
    reasoning_tokens: int | None = None


@dataclass(frozen=True)
class Timing:
    """When a call started (epoch seconds), how long it took, and the time to its first partial."""

    started_at: float
    duration: float
    time_to_first_token: float | None


def text_tokens(text: str) -> int:
    """An estimate of the tokens in ``text`` (at least one)."""
    return max(1, len(text) // CHARS_PER_TOKEN)


PER_MESSAGE = 3  # a chat message's own tokens (role and separators), as OpenAI's cookbook counts them
REPLY_PRIMING = 3  # the assistant turn every chat prompt ends with


def _texts(node: Any) -> list[str]:
    """The text a model reads in a request body: every string under a content, text, system or input key."""
    if isinstance(node, dict):
        found: list[str] = []
        for key, value in node.items():
            if isinstance(value, str) and key in ("content", "text", "system", "input", "instructions"):
                found.append(value)
            elif isinstance(value, (dict, list)):
                found += _texts(value)
        return found
    if isinstance(node, list):
        return [text for item in node for text in _texts(item)]
    return []


def prompt_tokens(body: Any) -> int:
    """An estimate of a request's input tokens from what the model reads (its messages' text, each message's own
    tokens, the reply's priming), not from the JSON around it (model name, options, keys)."""
    if not isinstance(body, dict):
        return text_tokens(str(body))
    messages = body.get("messages") or body.get("contents") or body.get("input")
    count = len(messages) if isinstance(messages, list) else 1
    read = "".join(_texts({k: v for k, v in body.items() if k in ("messages", "contents", "input", "system",
                                                                   "instructions", "prompt", "systemInstruction")}))
    return text_tokens(read) + PER_MESSAGE * count + REPLY_PRIMING


def has_content(value: Any) -> bool:
    """Whether a partial holds any of the answer yet: a model whose every field is still None (what BAML streams
    while a reasoning model thinks) holds none."""
    if value is None or value == "" or value == [] or value == {}:
        return False
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict):
        return any(has_content(getattr(value, name, None)) for name in fields)
    if isinstance(value, (list, tuple)):
        return any(has_content(v) for v in value)
    if isinstance(value, dict):
        return any(has_content(v) for v in value.values())
    return True


def value_tokens(value: Any) -> int:
    """An estimate of the tokens a model wrote to produce ``value`` (a typed value or partial), as JSON."""
    if isinstance(value, str):
        return text_tokens(value)
    dump = getattr(value, "model_dump_json", None)
    text = dump() if callable(dump) else json.dumps(value, default=str)
    return text_tokens(str(text))
