"""What the offline model reads of a request (messages, media, the model's settings) and the bodies it answers
with, in the shapes of OpenAI's chat completions and Anthropic's messages."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from baml_magic.local_llm._answers import answer_for


def chat_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat request's messages, with Anthropic's separate system prompt (a string or text blocks) first."""
    system = request.get("system")
    return ([{"content": system}] if system else []) + (request.get("messages") or [])


def usage_body(anthropic: bool, tokens_in: int, tokens_out: int) -> dict[str, int]:
    if anthropic:
        return {"input_tokens": tokens_in, "output_tokens": tokens_out}
    return {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}


def stop_reason(anthropic: bool, cut: bool) -> str:
    """Why an answer ended, in the API's words: it ended, or it reached the request's max_tokens."""
    if anthropic:
        return "max_tokens" if cut else "end_turn"
    return "length" if cut else "stop"


def token_limit(request: dict[str, Any]) -> int | None:
    """The most tokens the request allows (OpenAI's max_completion_tokens or max_tokens, Anthropic's max_tokens)."""
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None


def completion_body(anthropic: bool, ident: object, model: str, text: str, tokens_in: int,
                    tokens_out: int, *, cut: bool = False, thinking: str = "") -> dict[str, Any]:
    """A whole answer as the provider's response body: an Anthropic message (its thinking block first) or an
    OpenAI chat.completion (its thinking as ``reasoning_content``)."""
    usage: dict[str, Any] = usage_body(anthropic, tokens_in, tokens_out)
    if anthropic:
        blocks = [{"type": "thinking", "thinking": thinking, "signature": "local-thinking-signature"}] if thinking \
            else []
        return {"id": f"msg_local_{ident}", "type": "message", "role": "assistant", "model": model,
                "content": [*blocks, {"type": "text", "text": text}], "stop_reason": stop_reason(True, cut),
                "stop_sequence": None, "usage": usage}
    message = {"role": "assistant", "content": text, **({"reasoning_content": thinking} if thinking else {})}
    if thinking:
        usage["completion_tokens_details"] = {"reasoning_tokens": len(split_tokens(thinking))}
    return {"id": f"chatcmpl-local-{ident}", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": stop_reason(False, cut)}], "usage": usage}


def answer_body(request: dict[str, Any], anthropic: bool, default_words: int,
                returns_of: Callable[[str], Any] = lambda _: None) -> dict[str, Any]:
    """A whole answer to a chat request, as the provider's response body (for batches: no pace, no faults).

    ``returns_of(prompt sha256)``: the return type the client told for this prompt, if it did.
    """
    model, params = split_model(str(request.get("model", "local")))
    messages = chat_messages(request)
    prompt = prompt_text(messages)
    text = answer_for(prompt, int(params.get("words", default_words)), received(media_parts(messages)),
                      seed=params.get("seed", ""), returns=returns_of(prompt_key(prompt)))
    tokens, limit = split_tokens(text), token_limit(request)
    cut = limit is not None and limit < len(tokens)
    tokens = tokens[:limit] if cut else tokens
    return completion_body(anthropic, "batch", model, "".join(tokens), len(split_tokens(prompt)), len(tokens), cut=cut)


def split_model(model: str) -> tuple[str, dict[str, str]]:
    name, _, query = model.partition("?")
    return name, dict(parse_qsl(query))


def split_tokens(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or [text]


def _media(part: dict[str, Any]) -> dict[str, Any] | None:
    """A media part of a message (OpenAI-style content parts, Anthropic-style blocks), decoded."""
    kind, media_type, encoded, url = part.get("type", ""), None, None, None
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url")
    elif kind == "input_audio":
        audio = part.get("input_audio") or {}
        encoded, media_type = audio.get("data"), f"audio/{audio.get('format', '')}"
    elif kind == "file":
        url = (part.get("file") or {}).get("file_data")
    elif kind in ("image", "document") and isinstance(part.get("source"), dict):  # Anthropic
        source = part["source"]
        encoded, media_type, url = source.get("data"), source.get("media_type"), source.get("url")
    else:
        return None
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
        media_type, encoded = url[5:].split(";base64,", 1)
    if not isinstance(encoded, str):
        return {"kind": kind, "media_type": media_type, "url": url, "bytes": None, "sha256": None}
    try:
        data = base64.b64decode(encoded)
    except ValueError:  # not base64 after all: recorded, not decoded
        return {"kind": kind, "media_type": media_type, "url": None, "bytes": None, "sha256": None}
    return {"kind": kind, "media_type": media_type, "url": None, "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def media_parts(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for message in messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            media = _media(part) if isinstance(part, dict) else None
            if media is not None:
                found.append(media)
    return found


def received(media: list[dict[str, Any]]) -> str:
    """What media came, as the offline model says it: ``image/png, 356 bytes, sha256 1f2e3d4c5b6a``."""
    return "; ".join(f"{m['media_type'] or m['kind']}, {m['bytes']} bytes, sha256 {m['sha256'][:12]}"
                     if m["bytes"] is not None else f"{m['kind']} at {m['url'] or 'an unreadable source'}"
                     for m in media)


def prompt_text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content", "")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        parts.append(str(content))
    return "\n".join(parts)


def prompt_key(prompt: str) -> str:
    """A prompt's key (the sha256 of its text): how a client's told return type finds its request."""
    return hashlib.sha256(prompt.encode()).hexdigest()
