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

from baml_magic._dumps import readable

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


OTLP_HEADERS = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")
OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def otlp_secrets(environ: Any) -> set[str]:
    """The trace exporter's credentials: every header value of ``OTEL_EXPORTER_OTLP_*HEADERS`` (also when
    mis-quoted, as a whole and in pieces) and the credentials in its endpoints."""
    found: set[str] = set()
    for name in OTLP_HEADERS:
        raw = environ.get(name) or ""
        if raw:
            found.add(raw)
        for pair in raw.split(","):
            _, _, value = pair.partition("=")
            for piece in (value, urllib.parse.unquote(value)):
                piece = piece.strip().strip("'\"").strip()
                found.add(piece)
                if piece.lower().startswith(("bearer ", "basic ")):
                    found.add(piece.split(None, 1)[1])
    for name in OTLP_ENDPOINTS:
        found |= url_credentials((environ.get(name) or "").strip().strip("'\""))
    return {v for v in found if v}


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


def remember(values: Iterable[str], urls: Iterable[str] = ()) -> None:
    """Treat these values as secrets from now on (a key written into a client block), and the credentials in
    these URLs (a password in a literal ``base_url``)."""
    found = set(values) | {c for url in urls for c in url_credentials(url)}
    with _lock:
        _seen_values.update(v for v in found if len(v) >= MIN_SECRET_LENGTH)


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
    values |= {v for v in otlp_secrets(os.environ) if len(v) >= MIN_SECRET_LENGTH}
    values |= seen
    bearer_tokens = {v.split(None, 1)[1] for v in seen if v.lower().startswith("bearer ") and " " in v}
    values |= {t for t in bearer_tokens if len(t) >= MIN_SECRET_LENGTH}
    made = sorted(values, key=len, reverse=True)
    with _lock:
        _cache = (basis, made)
    return made


def redact(text: str, values: list[str] | None = None) -> str:
    """The text with every secret value replaced (``values``: the secrets, when the caller has just read them:
    reading them walks the environment, so many texts at once read them once).

    A long secret's beginning counts too: a model that repeats the first ``PIECE`` characters or more of a key
    has them replaced as far as they match.
    """
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, REDACTED)
        if len(value) >= LONG_SECRET and not any(c in value for c in " =,"):  # a key, not a header line
            text = _without_prefixes(text, value)
    return _BEARER.sub(r"\1" + REDACTED, text)


def by_name(text: str, mark: Any) -> str:
    """The text with each secret value a project's clients read from the environment replaced by ``mark(NAME)``
    (a command a shell runs then reads it from the variable, and shows no secret)."""
    with _lock:
        names = sorted(_watched_names - _watched_urls)
    for name in names:
        value = os.environ.get(name) or ""
        if len(value) >= MIN_SECRET_LENGTH and value in text:
            text = text.replace(value, mark(name))
    return text


LONG_SECRET = 24  # a secret this long is scrubbed by its beginning too
PIECE = 12  # the shortest beginning of a long secret that is scrubbed


def _without_prefixes(text: str, secret: str) -> str:
    head = secret[:PIECE]
    at = text.find(head)
    while at >= 0:
        end = at + PIECE
        while end < len(text) and end - at < len(secret) and text[end] == secret[end - at]:
            end += 1
        text = text[:at] + REDACTED + text[end:]
        at = text.find(head, at + len(REDACTED))
    return text


_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}")


def redact_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Headers for display: plain ones and URLs as they are (secrets scrubbed), every other value redacted."""
    return {k: (redact(str(v)) if k.lower() in PLAIN_HEADERS | URL_HEADERS else REDACTED) for k, v in headers.items()}


def strip_noise(text: str) -> str:
    """A runtime message without ANSI colours, without its Rust backtrace (there with RUST_BACKTRACE), its Debug
    dumps summarised and no line longer than a screen."""
    return readable(_plain(text))


def _plain(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return re.split(r"\n\s*Stack backtrace:", text, maxsplit=1)[0].strip()


def clean(text: str) -> str:
    """Secrets, ANSI colours, a Rust backtrace and Debug dumps out of a message."""
    return redact(strip_noise(text))


def scrub(exc: BaseException) -> BaseException:
    """The same exception with secrets and backtraces removed from its message and text attributes (in place);
    the model's own text (``raw_output``, ``prompt``) stays whole."""
    exc.args = tuple(clean(a) if isinstance(a, str) else a for a in exc.args)
    for name in ("message", "detailed_message", "raw_output", "prompt"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            with contextlib.suppress(AttributeError):
                setattr(exc, name, clean(value) if name in ("message", "detailed_message") else redact(_plain(value)))
    return exc
