"""How long a rate-limited answer asks to wait, read as the official SDKs read it.

``retry-after-ms`` first, then ``retry-after`` (seconds or an HTTP date), then the reset of the limit that ran
out: OpenAI's ``x-ratelimit-reset-requests`` / ``-tokens`` durations (``500ms``, ``1m2.5s``), Anthropic's
``anthropic-ratelimit-*-reset`` RFC 3339 times. A wait that is not a finite number is no answer.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import math
import re
import time
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
ANTHROPIC_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")


def _duration(text: str) -> float | None:
    """OpenAI's ``x-ratelimit-reset-*`` durations: ``500ms``, ``1s``, ``1m2.5s``, ``6m0s``, ``2h``."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _until(moment: str) -> float | None:
    """Seconds from now until an RFC 3339 time (Anthropic's resets)."""
    with contextlib.suppress(ValueError):
        when = datetime.datetime.fromisoformat(moment.strip().replace("Z", "+00:00"))
        if when.tzinfo is not None:
            return max(0.0, when.timestamp() - time.time())
    return None


def _number(text: str) -> float | None:
    with contextlib.suppress(ValueError):
        value = float(text)
        return max(0.0, value) if not math.isnan(value) else None
    return None


def retry_after(headers: dict[str, Any]) -> float | None:
    """Seconds a rate-limited answer asks to wait (None: it does not say)."""
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    if "retry-after-ms" in lower:
        wait = _number(lower["retry-after-ms"])
        if wait is not None:
            return wait / 1000
    value = lower.get("retry-after")
    if value is not None:
        wait = _number(value)
        if wait is not None:
            return wait
        with contextlib.suppress(TypeError, ValueError, IndexError):
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    resets: dict[str, float] = {}
    for kind in ("requests", "tokens"):
        reset = _duration(lower.get(f"x-ratelimit-reset-{kind}", ""))
        if reset is not None:
            resets[f"x-ratelimit-remaining-{kind}"] = reset
    for kind in ANTHROPIC_LIMITS:
        reset = _until(lower.get(f"anthropic-ratelimit-{kind}-reset", ""))
        if reset is not None:
            resets[f"anthropic-ratelimit-{kind}-remaining"] = reset
    spent = [wait for remaining, wait in resets.items() if lower.get(remaining, "").strip() == "0"]
    if spent or resets:
        return max(spent or resets.values())
    return None
