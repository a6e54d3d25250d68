"""What a run's answer says about itself once it has ended: who answered, what it spent and cost, its raw
text, and, for a replay, the recorded answer's own facts (a part of ``Run``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from baml_magic._types import Status, Timing, Usage, value_tokens
from baml_magic.calls._cache import Answer
from baml_magic.engine import EngineCall
from baml_magic.wire import Facts


class RunFacts:
    """``usage``, ``saved``, ``cost``, ``provider``, ``model``, ``client_name``, ``timing``, ``raw_response``."""

    call: EngineCall
    cached: Answer | None
    client: str | None
    end: float | None
    partial: Any
    priced_by: Callable[[Any], float | None] | None
    started_at: float
    status: Status
    start: float
    thoughts: list[str]  # the model's thinking as it streamed, piece by piece
    first_thought: float | None  # when its first piece came (monotonic)

    @property
    def done(self) -> bool:
        raise NotImplementedError

    @property
    def elapsed(self) -> float:
        raise NotImplementedError

    @property
    def time_to_first_token(self) -> float | None:
        raise NotImplementedError

    @property
    def facts(self) -> Facts:
        """What the call's log says (usage, who answered, the raw answer), once it has ended."""
        return self.call.facts() if self.end is not None else Facts()

    @property
    def retry_after(self) -> float | None:
        """Seconds a 429 answer asked to wait, if it said."""
        return self.facts.retry_after

    @property
    def usage(self) -> Usage:
        """Tokens this call spent (none when it replayed a recorded answer: see ``saved``).

        A call cancelled, stopped or failed mid-stream counts what arrived: the provider's own count where it sent one,
        else an estimate from the partial, marked so.
        """
        if self.cached is not None:
            return Usage(0, 0)
        usage = self.facts.usage
        if self.status in (Status.CANCELLED, Status.ERROR, Status.STOPPED) and self.partial is not None:
            arrived = value_tokens(self.partial)
            if (usage.estimated or usage.output_tokens is None) and arrived > (usage.output_tokens or 0):
                return dataclasses.replace(usage, output_tokens=arrived, estimated=True)
        return usage

    @property
    def reasoning(self) -> str | None:
        """The model's thinking before its answer, as the provider sent it (Anthropic's thinking blocks, the
        Responses API's reasoning summaries, Gemini's thought parts, ``reasoning_content``): so far while the call
        streams, all of it once it has ended (a replayed answer's as recorded); None when it sent none."""
        if self.cached is not None:
            return self.cached.reasoning
        ended = self.facts.reasoning if self.end is not None else None
        return ended or "".join(self.thoughts) or None

    @property
    def time_to_first_thought(self) -> float | None:
        """Seconds from the start to the first piece of the model's thinking (None: none came while it streamed)."""
        return None if self.first_thought is None else self.first_thought - self.start

    @property
    def saved(self) -> Usage:
        """Tokens a replayed answer did not spend again (zero for a real call)."""
        return self.cached.usage if self.cached is not None else Usage(0, 0)

    @property
    def provider(self) -> str | None:
        """The BAML provider that answered (``openai``, ``anthropic``, ...)."""
        return self.cached.provider if self.cached is not None else self.facts.provider

    @property
    def cost(self) -> float | None:
        """What the call cost in US dollars, once it has ended, when its model has a price (``BamlMagic.prices``
        or the built-in table); None otherwise (``%baml usage`` says which models have none)."""
        return self.priced_by(self) if self.priced_by is not None and self.done else None

    @property
    def model(self) -> str | None:
        """The model that answered, as the request named it (what prices are looked up by)."""
        return self.cached.model if self.cached is not None else self.facts.model

    @property
    def client_name(self) -> str | None:
        """The client that answered, as BAML names it (after any fallback or retry)."""
        if self.cached is not None:
            return self.cached.client
        return self.facts.client or self.client

    @property
    def timing(self) -> Timing:
        """When it started, how long it took, and the time to its first token."""
        return Timing(self.started_at, self.elapsed, self.time_to_first_token)

    @property
    def raw_response(self) -> str | None:
        """The answer's raw text as the provider sent it (secrets redacted)."""
        return self.cached.raw if self.cached is not None else self.facts.raw
