"""Telling the offline model what a function returns, for prompts that describe their output by hand.

A prompt with ``{{ ctx.output_format }}`` says its type in BAML's own notation, which the offline
model reads. A prompt that writes its format by hand (a JSON example with comments, "a|b|c"
alternatives) does not, so before such a call reaches the offline model, baml_magic sends it the
function's return type, keyed by the prompt's text (``POST /_expect``), through baml_magic's call hook
(``_call_hooks``), which this module joins when an offline model is started or pointed at (``serve``). Only
those servers are told anything: no other server is ever asked, a real provider's URL never.
"""

from __future__ import annotations

import enum
import json
import threading
import types as pytypes
import typing
import urllib.parse
import urllib.request
from typing import Any

from pydantic import BaseModel

from baml_magic import _call_hooks as call_hooks
from baml_magic.local_llm._wire import chat_messages, prompt_key, prompt_text

_MEDIA = {"Image": "image", "Audio": "audio", "Pdf": "pdf", "Video": "video"}
_servers: set[str] = set()  # origins of the offline models this process knows (started, or pointed at)
_lock = threading.Lock()


def notation(annotation: Any, renamed: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """A Python return type as the offline model's type notation: ``{"type": ..., "types": ..., "enums": ...}``.

    ``renamed``: per class or enum, the names BAML's ``@alias`` gives its fields or values (what the
    model answers with; the generated Python types keep the declared names).
    """
    renamed = renamed or {}
    types: dict[str, Any] = {}
    enums: dict[str, list[str]] = {}

    def convert(t: Any, depth: int = 0) -> Any:
        if depth > 40:
            return ["string"]
        origin, args = typing.get_origin(t), typing.get_args(t)
        if t is str:
            return ["string"]
        if t is bool:
            return ["bool"]
        if t is int:
            return ["int"]
        if t is float:
            return ["float"]
        if t is type(None) or t is None:
            return ["null"]
        if origin is typing.Literal:
            members = [["literal", a] for a in args]
            return members[0] if len(members) == 1 else ["union", members]
        if origin in (typing.Union, pytypes.UnionType):
            return ["union", [convert(a, depth + 1) for a in args]]
        if origin in (list, typing.List):  # noqa: UP006 - the generated code's spelling
            return ["list", convert(args[0], depth + 1)]
        if origin in (dict, typing.Dict):  # noqa: UP006 - the generated code's spelling
            key = args[0]
            if isinstance(key, type) and issubclass(key, enum.Enum):  # BAML keeps map keys as written: no alias
                enums[f"{key.__name__} keys"] = [str(m.value) for m in key]
                return ["map", ["named", f"{key.__name__} keys"], convert(args[1], depth + 1)]
            return ["map", convert(key, depth + 1), convert(args[1], depth + 1)]
        name = getattr(t, "__name__", "") or str(t)
        if type(t).__name__ == "TypeAliasType":  # a recursive alias: named once, defined once
            if name not in types:
                types[name] = ["string"]
                types[name] = convert(t.__value__, depth + 1)
            return ["named", name]
        if isinstance(t, type) and issubclass(t, enum.Enum):
            enums[name] = [renamed.get(name, {}).get(str(m.value), str(m.value)) for m in t]
            return ["named", name]
        if isinstance(origin, type) and origin.__name__ == "Checked" and args:  # a value with its checks
            return convert(args[0], depth + 1)
        generic = getattr(t, "__pydantic_generic_metadata__", None) or {}  # pydantic's Checked[int, Literal[...]]
        if getattr(generic.get("origin"), "__name__", "") == "Checked" and generic.get("args"):
            return convert(generic["args"][0], depth + 1)
        if isinstance(t, type) and issubclass(t, BaseModel):
            if name not in types:
                types[name] = ["object", []]
                names = renamed.get(name, {})
                types[name] = ["object", [[names.get(key, f.alias or key), convert(f.annotation, depth + 1)]
                                          for key, f in t.model_fields.items()]]
            return ["named", name]
        if name in _MEDIA:
            return [_MEDIA[name]]
        return ["string"]

    return {"type": convert(annotation), "types": types, "enums": enums}


def request_key(body: Any) -> str:
    """The key of a request's prompt: the sha256 of its text as the offline model reads it."""
    return prompt_key(prompt_text(chat_messages(body if isinstance(body, dict) else {})))


def _origin(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):  # never ask a real provider anything
        return None
    return f"{parts.scheme}://{parts.netloc}"


def serve(base_url: str) -> None:
    """An offline model runs at ``base_url`` (this process started it, or was pointed at it): from now on the
    requests baml_magic sends there with a hand-written format are announced to it. No other server is asked."""
    origin = _origin(base_url)
    if origin is None:
        return
    with _lock:
        _servers.add(origin)
    call_hooks.listen(_announce)


def unserve(base_url: str) -> None:
    origin = _origin(base_url)
    with _lock:
        _servers.discard(origin or "")
        if not _servers:
            call_hooks.forget(_announce)


def _announce(expected: list[call_hooks.Expected]) -> None:
    """baml_magic's hook: tell the offline model the declared types of the requests about to reach it."""
    by_origin: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for item in expected:
        origin = _origin(item.url)
        with _lock:
            ours = origin in _servers
        if origin is not None and ours:
            by_origin.setdefault(origin, []).append((request_key(item.body), notation(item.returns, item.aliases)))
    for origin, told in by_origin.items():
        tell(origin, told)


def tell(url: str, expected: list[tuple[str, dict[str, Any]]]) -> None:
    """Send the offline model the return types of the prompts about to come (best effort: it may be gone)."""
    origin = _origin(url)
    if origin is None or not expected:
        return
    body = json.dumps([{"prompt_sha256": key, "returns": returns} for key, returns in expected]).encode()
    request = urllib.request.Request(f"{origin}/_expect", data=body, headers={"content-type": "application/json"},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=2):
            pass
    except Exception:  # noqa: BLE001 - without the hint it answers from the prompt, as it always could
        return
