"""Keep secrets out of every output: views, errors, prompt and request displays."""

from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)
SECRET_HEADERS = {"authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization", "cookie"}
MIN_SECRET_LENGTH = 6


def secret_values() -> list[str]:
    """Values of environment variables whose names say they are secrets, longest first."""
    values = {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """The text with every secret value from the environment replaced."""
    for value in secret_values():
        text = text.replace(value, REDACTED)
    return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}", r"\1" + REDACTED, text)


def redact_headers(headers: dict[str, Any]) -> dict[str, Any]:
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else redact(str(v))) for k, v in headers.items()}


def scrub(exc: BaseException) -> BaseException:
    """The same exception with secrets removed from its message and text attributes (in place)."""
    exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
    for name in ("message", "detailed_message", "raw_output", "prompt"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            try:
                setattr(exc, name, redact(value))
            except AttributeError:
                pass
    return exc
