"""Keep secrets out of every output: views, errors, prompt and request displays, saved notebooks.

Secrets are scrubbed by value, whatever their variable is called: every variable a project's
clients read (``env.ANY_NAME``), every variable whose name says it is a secret, and every header
value a request carried (but the plain ones, like ``content-type``). A variable read only as the URL
requests go to (``base_url``) is shown, but for the credentials it carries (``user:password@``, query
values). Rust backtraces go too.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)
# Headers whose values say nothing secret; every other header value is treated as a secret.
PLAIN_HEADERS = {"content-type", "accept", "accept-encoding", "user-agent", "content-length", "connection",
                 "anthropic-version", "anthropic-beta", "openai-beta", "host"}
URL_HEADERS = {"baml-original-url"}  # the URL a request went to: shown, but for the credentials it carries
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_watched_names: set[str] = set()  # variables the project's clients read
_watched_urls: set[str] = set()  # variables they read only as a URL: only its credentials are secret
_seen_values: set[str] = set()  # header values requests carried


def watch(names: Iterable[str], urls: Iterable[str] = ()) -> None:
    """Treat the values of these environment variables as secrets (whatever they are called); ``urls``: those
    read only as a URL, whose credentials alone are secret (a name read anywhere else stays wholly secret)."""
    with _lock:
        _watched_names.update(names)
        _watched_urls.update(urls)


def url_credentials(url: str) -> set[str]:
    """The parts of a URL that carry credentials: the userinfo and its password, every query value."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return {url}  # not a URL we can read: all of it
    found: set[str] = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found |= {userinfo, userinfo.partition(":")[2], urllib.parse.unquote(userinfo.partition(":")[2])}
    for _key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=False):
        found |= {value, urllib.parse.quote(value, safe="")}
    return {v for v in found if v}


def remember_headers(headers: dict[str, Any]) -> None:
    """Treat the values of a request's headers (but the plain ones) as secrets from now on; a header that holds
    the URL the request went to (BAML's ``baml-original-url``), only the credentials in it."""
    values = {str(v) for k, v in headers.items() if k.lower() not in PLAIN_HEADERS | URL_HEADERS}
    values |= {c for k, v in headers.items() if k.lower() in URL_HEADERS for c in url_credentials(str(v))}
    with _lock:
        _seen_values.update(v for v in values if len(v) >= MIN_SECRET_LENGTH)


_cache: tuple[Any, list[str]] = (None, [])  # (what the list was made from, the list)


def secret_values() -> list[str]:
    """Every value to scrub, longest first (so a key inside a longer secret goes with it).

    Made again only when the environment or the watched names and values changed (telling that is
    one hash of the environment's items, in C): outputs scrub often, the environment rarely changes.
    """
    global _cache
    data = getattr(os.environ, "_data", None)
    with _lock:
        basis = (hash(frozenset(data.items())) if isinstance(data, dict) else None, len(_watched_names),
                 len(_seen_values), len(_watched_urls))
        if basis[0] is not None and _cache[0] == basis:
            return _cache[1]
        names, seen, urls = set(_watched_names), set(_seen_values), set(_watched_urls) - set(_watched_names)
    values = {v for k, v in os.environ.items() if (k in names or SECRET_NAME.search(k))
              and len(v) >= MIN_SECRET_LENGTH}
    values |= {c for k in urls if k in os.environ for c in url_credentials(os.environ[k])
               if len(c) >= MIN_SECRET_LENGTH}
    values |= seen
    bearer_tokens = {v.split(None, 1)[1] for v in seen if v.lower().startswith("bearer ") and " " in v}
    values |= {t for t in bearer_tokens if len(t) >= MIN_SECRET_LENGTH}
    made = sorted(values, key=len, reverse=True)
    with _lock:
        _cache = (basis, made)
    return made


def redact(text: str, values: list[str] | None = None) -> str:
    """The text with every secret value replaced (``values``: the secrets, when the caller has just read them:
    reading them walks the environment, so many texts at once read them once)."""
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, REDACTED)
    return _BEARER.sub(r"\1" + REDACTED, text)


_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}")


def redact_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Headers for display: plain ones and URLs as they are (secrets scrubbed), every other value redacted."""
    return {k: (redact(str(v)) if k.lower() in PLAIN_HEADERS | URL_HEADERS else REDACTED) for k, v in headers.items()}


def strip_noise(text: str) -> str:
    """A runtime message without ANSI colours and without its Rust backtrace (there with RUST_BACKTRACE)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return re.split(r"\n\s*Stack backtrace:", text, maxsplit=1)[0].strip()


def clean(text: str) -> str:
    """Secrets, ANSI colours and a Rust backtrace out of a message."""
    return redact(strip_noise(text))


def scrub(exc: BaseException) -> BaseException:
    """The same exception with secrets and backtraces removed from its message and text attributes (in place)."""
    exc.args = tuple(clean(a) if isinstance(a, str) else a for a in exc.args)
    for name in ("message", "detailed_message", "raw_output", "prompt"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            with contextlib.suppress(AttributeError):
                setattr(exc, name, clean(value))
    return exc
