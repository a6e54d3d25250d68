"""OpenAI's Responses API (BAML's ``openai-responses`` provider), as its API reference documents it.

A stream is typed events: ``response.created``, ``response.output_text.delta``, ``response.refusal.delta`` /
``.done``, and one ending: ``response.completed``, ``response.incomplete`` (``incomplete_details.reason``:
``max_output_tokens`` or ``content_filter``) or ``response.failed`` (``response.error``); an ``error`` event
may come instead. The ending carries the whole response object, whose ``usage`` has ``input_tokens`` (cached
ones included, ``input_tokens_details.cached_tokens``) and ``output_tokens`` (reasoning included). A whole
answer is that response object: ``status``, ``output[]`` message items whose content parts are
``output_text`` or ``refusal``, and ``function_call`` items for tool calls.
"""

from __future__ import annotations

from typing import Any

from baml_magic._types import Usage
from baml_magic.wire._reply import Reply
from baml_magic.wire._shared import integer, model_of

ENDINGS = ("response.completed", "response.incomplete", "response.failed")


THINKING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")


def usage(counts: dict[str, Any]) -> Usage:
    cached = integer((counts.get("input_tokens_details") or {}).get("cached_tokens"))
    thinking = (counts.get("output_tokens_details") or {}).get("reasoning_tokens")
    return Usage(integer(counts.get("input_tokens")), integer(counts.get("output_tokens")), cached or None,
                 reasoning_tokens=integer(thinking) if isinstance(thinking, int) else None)


def _summary(response: dict[str, Any]) -> str:
    """A response's reasoning items: their summaries (what OpenAI shows of its models' thinking), else their text."""
    parts = [part.get("text") for item in response.get("output") or [] if isinstance(item, dict)
             and item.get("type") == "reasoning" for part in (item.get("summary") or item.get("content") or [])
             if isinstance(part, dict)]
    return "\n\n".join(p for p in parts if isinstance(p, str) and p)


def reasoning(events: list[Any]) -> str:
    """The thinking of a response (its reasoning items) or of a stream (its reasoning deltas, else its final
    response's items)."""
    deltas = "".join(e["delta"] for e in events if isinstance(e, dict) and e.get("type") in THINKING_DELTAS
                     and isinstance(e.get("delta"), str))
    if deltas:
        return deltas
    for event in reversed(events):
        response = event.get("response") if isinstance(event, dict) and isinstance(event.get("response"), dict) \
            else event if isinstance(event, dict) and event.get("object") == "response" else None
        if response is not None:
            return _summary(response)
    return ""


def _error(detail: Any) -> str:
    if isinstance(detail, dict):
        return f"{detail.get('code') or detail.get('type') or 'error'}: {detail.get('message', '')}".strip(": ")
    return str(detail or "the response failed")


def _facts(response: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(stop reason, refusal, error) of a response object."""
    status = response.get("status")
    refusals = [part.get("refusal") for item in response.get("output") or [] if isinstance(item, dict)
                for part in item.get("content") or [] if isinstance(part, dict) and part.get("type") == "refusal"]
    calls = [item for item in response.get("output") or [] if isinstance(item, dict)
             and item.get("type") == "function_call"]
    finish = {"completed": "function_call" if calls else "stop", "incomplete": None, "failed": None}.get(
        str(status), None)
    if status == "incomplete":
        finish = str((response.get("incomplete_details") or {}).get("reason") or "incomplete")
    error = _error(response.get("error")) if status == "failed" else None
    return finish, "".join(r for r in refusals if isinstance(r, str)) or None, error


def body(answer: dict[str, Any]) -> Reply:
    finish, refusal, error = _facts(answer)
    counts = usage(answer["usage"]) if isinstance(answer.get("usage"), dict) else None
    return Reply(counts, finish, refusal, model_of(answer), error, styled=True, ended=error is None,
                 reasoning=_summary(answer) or None)


def stream(events: list[Any]) -> Reply:
    counts: Usage | None = None
    finish = refusal = error = model = None
    streamed_refusal: list[str] = []
    ended = False
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        response = event.get("response") if isinstance(event.get("response"), dict) else None
        model = model or (model_of(response) if response else None)
        if kind == "response.refusal.delta" and isinstance(event.get("delta"), str):
            streamed_refusal.append(event["delta"])
        elif kind == "error":
            error = _error(event)
        elif kind in ENDINGS and response is not None:
            finish, refusal, failed = _facts(response)
            error = failed or error
            if isinstance(response.get("usage"), dict):
                counts = usage(response["usage"])
            ended = True
    return Reply(counts, finish, refusal or "".join(streamed_refusal) or None, model, error, True,
                 ended and error is None)
