"""What one finished call says, as a frozen record read once when it has ended (by the engine that ran it).

Token counts come from the provider's own answer where it sent them, else from the runtime's own
count, else they are estimated from the text and marked so, with a hint that says how to get real
counts. A call that fell back or retried counts every attempt's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baml_magic._types import Usage
from baml_magic.wire._reply import Reply


@dataclass(frozen=True)
class Facts:
    """A finished call as its log tells it: usage, who answered, the raw text, the answer's stop facts."""

    usage: Usage = field(default_factory=Usage)
    provider: str | None = None
    client: str | None = None
    model: str | None = None
    raw: str | None = None
    reply: Reply = field(default_factory=Reply)
    retry_after: float | None = None  # seconds a 429 answer asked to wait
    hint: str | None = None  # how to get real token counts, when they are estimated
    headers: tuple[dict[str, Any], ...] = ()  # what each attempt sent (their values are secrets)
    params: dict[str, Any] = field(default_factory=dict)  # the request's sampling settings (temperature, ...)
    request: str | None = None  # the answering request's body (for traces that record content; dropped early)
    attempts: tuple[tuple[str, str, int | None], ...] = ()  # (client, provider, HTTP status) of each attempt
    reasoning: str | None = None  # the model's thinking, as the provider sent it apart from the answer
