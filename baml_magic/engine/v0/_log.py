"""Reading baml-py's collector log of one call into ``Facts``: the provider's own answer first (``_replies``),
then BAML's counts, then an estimate from the text with a hint."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from baml_magic._types import Usage, prompt_tokens, text_tokens
from baml_magic.wire import Facts, Reply, parse_events, read_body, read_reasoning, read_stream, retry_after, total

EDGE_EVENTS = 8  # a stream's usage and end marker are among its first two and last events
INCLUDE_USAGE_HINT = ("add `stream_options {{ include_usage true }}` to client {client}'s options for real token "
                      "counts (an OpenAI-compatible server counts streamed tokens only when asked)")
ASKED_HINT = ("client {client}'s server sent no token counts in its stream although the request asked for them "
              "(stream_options.include_usage): these are estimated from the text")


def _events(call: Any, whole: bool) -> list[Any] | None:
    sse = call.sse_responses() if hasattr(call, "sse_responses") else None
    if sse is None:
        return None
    picked = sse if whole or len(sse) <= 2 + EDGE_EVENTS else [*sse[:2], *sse[-EDGE_EVENTS:]]
    return parse_events(r.text for r in picked)


def reply_of(call: Any, *, whole: bool = False) -> Reply:
    """The provider's answer in one attempt (``whole``: every stream event, for a refusal spread over deltas),
    read by the family of the provider that answered."""
    if call is None:
        return Reply()
    provider = str(getattr(call, "provider", "") or "") or None
    with contextlib.suppress(Exception):  # an attempt that never got an answer has nothing to read
        events = _events(call, whole)
        if events:
            return read_stream(events, provider)
        response = call.http_response
        if response is not None:
            return read_body(response.body.json(), provider)
    return Reply()


def selected_call(log: Any) -> Any:
    if log is None:
        return None
    return log.selected_call or (log.calls[-1] if log.calls else None)


def read_log(log: Any, *, status_code: int | None = None) -> Facts:
    """The facts of a call's log (None: the call never reached BAML's collector)."""
    if log is None:
        return Facts()
    calls = list(log.calls)
    # BAML's objects are new at every read (``selected_call`` is not one of ``calls`` by identity)
    at = next((i for i, call in enumerate(calls) if getattr(call, "selected", False)), len(calls) - 1)
    chosen = calls[at] if calls else None
    replies = [reply_of(call) for call in calls]
    reply = replies[at] if calls else Reply()
    raw = log.raw_llm_response
    usage = total(r.usage for r in replies) or _baml_usage(log, getattr(chosen, "provider", None))
    hint = None
    if usage is None:
        usage, hint = _estimate(calls, raw, chosen, reply)
    request = getattr(chosen, "http_request", None)
    headers, attempts = [], []
    for call, answered in zip(calls, replies, strict=True):
        with contextlib.suppress(Exception):  # an attempt that never built a request sent nothing
            if call.http_request is not None:
                headers.append(dict(call.http_request.headers))
        response = getattr(call, "http_response", None)
        if _no_answer(response):
            response = None
        started = 0
        with contextlib.suppress(Exception):
            started = int(call.timing.start_time_utc_ms)
        status = response.status if response is not None else 200 if answered.styled else None  # a stream: 200
        attempts.append((started, str(getattr(call, "client_name", "?")), str(getattr(call, "provider", "?")), status))
    wait = None
    if status_code == 429:
        for call in reversed(calls):
            response = call.http_response
            if response is not None and response.headers:
                wait = retry_after(response.headers)
                if wait is not None:
                    break
    model, params, body = _request_facts(request)
    return Facts(usage, getattr(chosen, "provider", None), getattr(chosen, "client_name", None),
                 model or reply.model, raw, reply, wait, hint, tuple(headers), params, body,
                 tuple(a[1:] for a in sorted(attempts, key=lambda a: a[0])),  # in the order they were made
                 reasoning=_reasoning(chosen, reply))


def _reasoning(call: Any, reply: Reply) -> str | None:
    """The answering attempt's thinking: from all its stream's events (a stream's edges hold none of it), else
    from its whole body."""
    with contextlib.suppress(Exception):  # an attempt that never got an answer thought nothing
        sse = call.sse_responses() if call is not None and hasattr(call, "sse_responses") else None
        if sse:
            return read_reasoning((r.text for r in sse), str(getattr(call, "provider", "") or "") or None)
    return reply.reasoning


def _no_answer(response: Any) -> bool:
    """BAML's stand-in for a request no server answered (refused, reset, unreachable): status 500, no headers,
    a body saying ``No response. Error: ...``."""
    if response is None:
        return False
    with contextlib.suppress(Exception):
        return not response.headers and response.body.text().startswith("No response.")
    return False


def _baml_usage(log: Any, provider: str | None) -> Usage | None:
    """BAML's own counts, where the wire had none to read; input counts include cached input (Bedrock's
    ``inputTokens``, which BAML passes on, excludes it)."""
    usage = log.usage
    if usage is None or (usage.input_tokens is None and usage.output_tokens is None):
        return None
    cached = getattr(usage, "cached_input_tokens", None) or None
    given = usage.input_tokens
    if provider == "aws-bedrock" and given is not None and cached:
        given += cached
    return Usage(given, usage.output_tokens, cached)


def _estimate(calls: list[Any], raw: str | None, chosen: Any, reply: Reply) -> tuple[Usage, str | None]:
    """Counts from the text when the provider sent none, and how to get real ones. An attempt the provider
    refused (a 429, a 5xx) is not counted: it is not billed."""
    sent = 0
    for call in calls:
        response = getattr(call, "http_response", None)
        if response is not None and getattr(response, "status", 200) >= 400:
            continue
        with contextlib.suppress(Exception):
            sent += prompt_tokens(call.http_request.body.json()) if call.http_request is not None else 0
    if not sent and not raw:
        return Usage(), None
    usage = Usage(sent or None, text_tokens(raw) if raw else 0, None, True)
    client = getattr(chosen, "client_name", None) or "?"
    request = getattr(chosen, "http_request", None)
    openai_stream = reply.styled and hasattr(chosen, "sse_responses") and "chat/completions" in str(
        getattr(request, "url", ""))
    asked = False
    with contextlib.suppress(Exception):  # the advice looks at what the request said first
        asked = request is not None and bool((request.body.json().get("stream_options") or {}).get("include_usage"))
    if openai_stream:
        hint = (ASKED_HINT if asked else INCLUDE_USAGE_HINT).format(client=client)
    else:
        hint = f"client {client}'s provider sent no token counts: these are estimated from the text"
    return usage, hint


SAMPLING = ("temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "stop", "seed",
            "frequency_penalty", "presence_penalty")


def _request_facts(request: Any) -> tuple[str | None, dict[str, Any], str | None]:
    """What a request named: its model (in its JSON body, or Google's URL ``.../models/NAME:generateContent``),
    its sampling settings, and its body's text."""
    if request is None:
        return None, {}, None
    model, params, text = None, {}, None
    with contextlib.suppress(Exception):  # a body that is not JSON names no model
        text = request.body.text()
        body = request.body.json()
        model = body.get("model")
        settings = {**body, **(body.get("generationConfig") or {})}  # Google keeps them apart
        params = {k: settings[k] for k in SAMPLING if settings.get(k) is not None}
    if not model:
        found = re.search(r"/models/([^/:?]+)", str(request.url))
        model = found.group(1) if found else None
    return (str(model) if model else None), params, text
