"""What this package knows of providers' wire formats, in one place.

Request bodies (OpenAI, Anthropic and Google chat messages) and the keys BAML's provider/model
shorthand reads. What an answer says besides its text (usage, stop reasons, end markers,
``Retry-After``) is read in ``wire``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Keys BAML reads by default for the provider/model shorthand (e.g. "openai/gpt-4o-mini").
SHORTHAND_KEYS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google-ai": "GOOGLE_API_KEY",
    "azure-openai": "AZURE_OPENAI_API_KEY",
}


@dataclass(frozen=True)
class Media:
    """A media part of a message: what it is and where its bytes are (a data URL or a URL)."""

    kind: str  # image | audio | pdf | file
    media_type: str | None
    source: str  # "data:<type>;base64,..." or an http(s) URL
    size: int | None  # bytes, when the part carries them


@dataclass(frozen=True)
class Message:
    """One chat message of a rendered prompt."""

    role: str
    content: str
    media: tuple[Media, ...] = ()


def _media_of(part: dict[str, Any]) -> Media | None:
    """An OpenAI content part or an Anthropic block as Media (None for text)."""
    kind = part.get("type", "")
    if kind == "image_url":
        url = str((part.get("image_url") or {}).get("url", ""))
        return _media_from_url("image", url)
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        media_type = f"audio/{audio.get('format', '')}"
        return _media_from_url("audio", f"data:{media_type};base64,{audio.get('data', '')}")
    if kind == "file":
        return _media_from_url("file", str((part.get("file") or {}).get("file_data", "")))
    if kind in ("image", "document") and isinstance(part.get("source"), dict):  # Anthropic
        source = part["source"]
        if source.get("type") == "url":
            return _media_from_url(kind, str(source.get("url", "")))
        return _media_from_url(kind, f"data:{source.get('media_type', '')};base64,{source.get('data', '')}")
    return None


def _media_from_url(kind: str, url: str) -> Media:
    if url.startswith("data:") and ";base64," in url:
        media_type, encoded = url[5:].split(";base64,", 1)
        size = len(encoded) * 3 // 4 - encoded[-2:].count("=")
        if media_type.startswith("application/pdf"):
            kind = "pdf"
        return Media(kind, media_type or None, url, size)
    return Media(kind, None, url, None)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                media = _media_of(part)
                label = f"[{media.kind}{', ' + media.media_type if media and media.media_type else ''}]" if media \
                    else f"[{part.get('type', 'part')}]"
                parts.append(str(part.get("text") or part.get("content") or label))
            else:
                parts.append(str(part))
        return "".join(parts)
    return json.dumps(content)


def messages_of(body: dict[str, Any]) -> list[Message]:
    """Chat messages from an OpenAI-, Anthropic- or Google-style request body."""
    out: list[Message] = []
    if "system" in body:  # Anthropic keeps the system prompt apart
        out.append(Message("system", _text_of(body["system"])))
    for message in body.get("messages", []):
        content = message.get("content", "")
        parts = content if isinstance(content, list) else []
        media = tuple(m for m in (_media_of(p) for p in parts if isinstance(p, dict)) if m is not None)
        out.append(Message(str(message.get("role", "?")), _text_of(content), media))
    for message in body.get("contents", []):  # Google
        out.append(Message(str(message.get("role", "user")), _text_of(message.get("parts", []))))
    return out
