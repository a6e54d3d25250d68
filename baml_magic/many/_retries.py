"""When a failed call of a map is tried again, the same on one machine and on a cluster's workers.

A 429 answer is waited out (as long as it asks, else a doubling backoff with jitter); a server error (5xx,
Anthropic's 529 overload, 408, 409) is tried again twice with the same backoff, as the official OpenAI and
Anthropic SDKs do; a wait longer than ``max_retry_wait`` fails the input instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from baml_magic._errors import RetryWaitTooLong
from baml_magic.many._ratelimit import backoff

TRANSIENT = {408, 409}  # and every 5xx (Anthropic's 529 overload among them): tried again, as the SDKs do
SERVER_RETRIES = 2  # the official SDKs' default max_retries


def rate_limited(error: BaseException | None) -> bool:
    """Whether the error is a 429 answer."""
    return getattr(error, "status_code", None) == 429


@dataclass
class Retries:
    """The tries each input of a map has had, and the rule for the next one."""

    function: str
    max_retry_wait: float = 60.0
    max_rate_limit_waits: int = 3
    rate_waits: dict[int, int] = field(default_factory=dict)
    server_retries: dict[int, int] = field(default_factory=dict)

    def after(self, index: int, error: BaseException, asked: float | None) -> float | BaseException:
        """Seconds to wait before input ``index`` is tried again, or the error it ends with. ``asked``: the wait
        the answer asked for (Retry-After and kin), if it did."""
        status = getattr(error, "status_code", None)
        if status == 429:
            if asked is None:  # the answer did not say how long: back off, as the official SDKs do
                asked = backoff(self.rate_waits.get(index, 0))
        elif status in TRANSIENT or (isinstance(status, int) and 500 <= status <= 599):
            if self.server_retries.get(index, 0) >= SERVER_RETRIES:
                return error
            self.server_retries[index] = self.server_retries.get(index, 0) + 1
            asked = asked if asked is not None else backoff(self.server_retries[index] - 1)
        if asked is not None and asked > self.max_retry_wait:
            return RetryWaitTooLong(self.function, asked, self.max_retry_wait, error)
        if asked is not None and self.rate_waits.get(index, 0) < self.max_rate_limit_waits:
            self.rate_waits[index] = self.rate_waits.get(index, 0) + 1
            return asked
        return error
