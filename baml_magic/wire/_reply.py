"""What a provider's answer says besides its text: token counts, why it stopped, a refusal, a block, the end."""

from __future__ import annotations

from dataclasses import dataclass

from baml_magic._types import Usage

# Stop reasons that mean the answer is not whole, as each provider spells them.
CUT_AT_LIMIT = {"length", "max_tokens", "MAX_TOKENS", "max_output_tokens", "model_context_window_exceeded"}
FILTERED = {"content_filter", "content_filtered", "guardrail_intervened", "SAFETY", "RECITATION", "PROHIBITED_CONTENT",
            "BLOCKLIST", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
REFUSED = {"refusal"}
TOOL_CALL = {"tool_calls", "tool_use", "function_call"}


@dataclass(frozen=True)
class Reply:
    """The facts of one answer: usage (None: not reported), the stop reason, a refusal, the model, the end.

    ``blocked``: the provider refused the prompt itself (Gemini's ``promptFeedback.blockReason``), so there is
    no answer at all.
    """

    usage: Usage | None = None
    finish: str | None = None
    refusal: str | None = None
    model: str | None = None
    error: str | None = None  # an error the provider sent inside a stream, or a failed response
    styled: bool = False  # the answer had a known provider's shape
    ended: bool = False  # the provider's end marker (or a stop reason) was seen
    blocked: str | None = None
    cut_how: str | None = None  # how a stream that is not whole ended, in words (None: it just stopped)
    reasoning: str | None = None  # the model's thinking, as the answer sent it apart from the text

    @property
    def cut_short(self) -> bool:
        """A stream in a known shape that stopped before its end marker."""
        return self.styled and not self.ended

    @property
    def incomplete(self) -> str | None:
        """Why the answer is not whole although it ended (cut, filtered, refused, blocked), in words; else None."""
        if self.blocked:
            return f"the provider blocked the prompt ({self.blocked})"
        if self.refusal:
            return f"the model refused: {self.refusal!r}"
        if self.finish in REFUSED:
            return "the model refused (stop reason 'refusal')"
        if self.finish in CUT_AT_LIMIT:
            return f"cut at the token limit (stop reason {self.finish!r})"
        if self.finish in FILTERED:
            return f"stopped by the provider's filter (stop reason {self.finish!r})"
        return None

    def problem(self) -> str | None:
        """Why the answer is not what was asked, with what to change, when the provider said so (None otherwise)."""
        if self.error:
            lines = [line.strip() for line in self.error.splitlines() if line.strip()]
            more = f" (and {len(lines) - 1} more line{'s' if len(lines) > 2 else ''} of it)" if len(lines) > 1 else ""
            return f"the provider sent an error: {lines[0] if lines else self.error}{more}"
        if self.finish in TOOL_CALL and not self.incomplete:
            return (f"the model answered with a tool call (stop reason {self.finish!r}), not the text this function "
                    "parses; BAML functions here take no tools")
        reason = self.incomplete
        if reason is None:
            return None
        if self.finish in CUT_AT_LIMIT:
            return f"the answer was {reason}; raise the client's max_tokens or ask for less"
        return reason
