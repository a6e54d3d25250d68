"""A v1 call's events (its ``on_event`` listener) read into ``Facts``: usage, who answered, the raw text, the reply.

v1 reports each model call as an ``ai.events.ModelCall`` (the tokens the provider reported, the resolved
model, the request without credentials, the response, and a stream's raw SSE events) and the answer as an
``ai.events.AssistantMessage``. The wire is read by ``wire`` as for v0 (by its shape: v1 names its providers
its own way), so a refusal, a cut answer or a stream without its end marker reads the same on either engine.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from baml_magic._types import Usage, text_tokens
from baml_magic.wire import Facts, Reply, parse_events, read_body, read_stream, total


def _kind(event: Any) -> str:
    return type(event).__name__


def _usage(call: Any) -> Usage | None:
    usage = getattr(call, "usage", None)
    if usage is None or (usage.input_tokens is None and usage.output_tokens is None):
        return None
    return Usage(usage.input_tokens, usage.output_tokens, getattr(usage, "cached_input_tokens", None) or None)


def _reply(call: Any) -> Reply:
    sse = getattr(call, "sse_responses", None)
    if sse:
        return read_stream(parse_events(str(getattr(record, "data", "")) for record in sse))
    body = getattr(getattr(call, "http_response", None), "body", None)
    with contextlib.suppress(ValueError, TypeError):
        return read_body(json.loads(body)) if isinstance(body, str) else Reply()
    return Reply()


def _text(message: Any) -> str:
    return "".join(str(getattr(part, "text", "")) for part in getattr(message, "content", None) or [])


def read_events(events: list[Any], client: str | None) -> Facts:
    """What the events of one call say; counts estimated from the text when the provider sent none."""
    calls = [e for e in events if _kind(e) == "ModelCall"]
    answers = [e for e in events if _kind(e) == "AssistantMessage"]
    raw = _text(answers[-1]) if answers else None
    last = calls[-1] if calls else None
    reply = _reply(last) if last is not None else Reply()
    usage = total(_usage(c) for c in calls) or reply.usage
    hint = None
    if usage is None and (calls or raw):
        sent = 0
        for call in calls:
            with contextlib.suppress(Exception):
                sent += text_tokens(str(call.http_request.body or ""))
        usage = Usage(sent or None, text_tokens(raw) if raw else 0, None, True)
        hint = f"client {client or '?'}'s provider sent no token counts: these are estimated from the text"
    resolved = getattr(last, "resolved_model", None)
    request = getattr(last, "http_request", None)
    attempts = tuple((client or "", str(getattr(getattr(c, "resolved_model", None), "provider", "") or ""),
                      getattr(getattr(c, "http_response", None), "status", None)) for c in calls)
    return Facts(usage=usage or Usage(), provider=getattr(resolved, "provider", None), client=client,
                 model=getattr(resolved, "model", None) or reply.model, raw=raw, reply=reply, hint=hint,
                 headers=(dict(getattr(request, "headers", None) or {}),) if request is not None else (),
                 request=str(getattr(request, "body", "") or "") or None, attempts=attempts)
