"""OpenAI Chat Completions, and the servers that speak it (Azure OpenAI, OpenRouter, Groq, DeepSeek, vLLM, Ollama).

As OpenAI's API reference documents it: ``chat.completion`` / ``chat.completion.chunk`` objects; ``usage``
with ``prompt_tokens`` (cached ones included, ``prompt_tokens_details.cached_tokens``) and
``completion_tokens`` (reasoning included), in a stream only when the request asked
(``stream_options.include_usage``), in a last chunk with empty ``choices``; ``finish_reason`` (``stop``,
``length``, ``content_filter``, ``tool_calls``); ``refusal`` beside a null ``content``; ``data: [DONE]`` at the
end (some compatible servers omit it); an ``error`` object in place of a chunk. A stream is whole only when a
choice said why it finished: llama-cpp-python's server ends a stream it preempts with the role chunk and
``[DONE]``, and no ``finish_reason``. Groq puts a stream's counts in
``x_groq.usage``; DeepSeek's older usage names cached input ``prompt_cache_hit_tokens``. A reasoning model's
thinking comes apart from the text: ``reasoning_content`` in a message or a delta (DeepSeek's reasoner, vLLM,
llama.cpp's server), or ``reasoning`` (OpenRouter, Ollama); its count is ``completion_tokens_details.reasoning_tokens``.
"""

from __future__ import annotations

from typing import Any

from baml_magic._types import Usage
from baml_magic.wire._reply import Reply
from baml_magic.wire._shared import integer, model_of


def usage(counts: dict[str, Any]) -> Usage:
    details = counts.get("prompt_tokens_details") or {}
    cached = integer(details.get("cached_tokens")) or integer(counts.get("prompt_cache_hit_tokens"))
    thinking = (counts.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return Usage(integer(counts.get("prompt_tokens")), integer(counts.get("completion_tokens")), cached or None,
                 reasoning_tokens=integer(thinking) if isinstance(thinking, int) else None)


def _thinking(part: dict[str, Any]) -> str:
    found = part.get("reasoning_content") or part.get("reasoning")
    return found if isinstance(found, str) else ""


def reasoning(events: list[Any]) -> str:
    """The thinking of a body or of a stream's chunks, in order."""
    return "".join(_thinking(choice.get("delta") or choice.get("message") or {}) for event in events
                   if isinstance(event, dict) for choice in (event.get("choices") or [])[:1]
                   if isinstance(choice, dict))


def _error(detail: Any) -> str:
    if isinstance(detail, dict):
        return f"{detail.get('type') or detail.get('code') or 'error'}: {detail.get('message', '')}".strip(": ")
    return str(detail)


def body(answer: dict[str, Any]) -> Reply:
    choices = [c for c in answer.get("choices") or [] if isinstance(c, dict)]
    first = choices[0] if choices else {}
    message = first.get("message") or {}
    counts = usage(answer["usage"]) if isinstance(answer.get("usage"), dict) else None
    error = _error(answer["error"]) if answer.get("error") else None
    return Reply(counts, first.get("finish_reason"), message.get("refusal") or None, model_of(answer), error,
                 styled=True, ended=error is None, reasoning=reasoning([answer]) or None)


def stream(events: list[Any]) -> Reply:
    counts: Usage | None = None
    finish = model = error = None
    refusal: list[str] = []
    ended = done = False
    for event in events:
        if isinstance(event, str):
            done = done or event.strip() == "[DONE]"
            continue
        if not isinstance(event, dict):
            continue
        model = model or model_of(event)
        if event.get("error"):
            error = _error(event["error"])
        reported = event.get("usage") or (event.get("x_groq") or {}).get("usage")
        if isinstance(reported, dict):
            counts = usage(reported)
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("refusal"), str):
                refusal.append(delta["refusal"])
            if choice.get("finish_reason"):
                finish, ended = choice["finish_reason"], True
    how = "the server sent [DONE] without saying why the answer stopped: no finish_reason" if done else None
    return Reply(counts, finish, "".join(refusal) or None, model, error, True, ended and error is None, cut_how=how)
