"""A map's pace: requests and tokens per minute, and a concurrency that backs off on 429s.

Starts are spaced evenly (``60 / rpm`` seconds apart) and a sliding log of the last minute holds
every start with its tokens, so no rolling minute ever holds more than ``rpm`` requests or ``tpm``
tokens. A start's tokens are an estimate (the rendered request's size, plus the output tokens of
the calls so far) until the call ends and reports its usage, which then replaces it.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field

from baml_magic.calls import checked_rate

WINDOW = 60.0
MARGIN = 0.05  # seconds of slack on both limits: our clock and the provider's differ by a little


BACKOFF_FIRST, BACKOFF_MOST = 0.5, 8.0  # seconds: the official OpenAI and Anthropic SDKs' defaults


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0-based) when a 429 said nothing: doubling, with jitter."""
    return min(BACKOFF_FIRST * 2.0**attempt, BACKOFF_MOST) * (1 - 0.25 * random.random())


@dataclass
class Start:
    at: float
    tokens: int


@dataclass
class Pace:
    """The limits a map keeps: requests and tokens per rolling minute (None: no limit)."""

    rpm: float | None = None
    tpm: float | None = None
    log: deque[Start] = field(default_factory=deque)
    output_tokens: list[int] = field(default_factory=list)  # reported by the calls that ended

    def __post_init__(self) -> None:
        self.rpm, self.tpm = checked_rate(self.rpm, "rpm"), checked_rate(self.tpm, "tpm")

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def expected_output(self) -> int:
        recent = self.output_tokens[-50:]
        return round(sum(recent) / len(recent)) if recent else 0

    def _trim(self, now: float) -> None:
        while self.log and self.log[0].at <= now - WINDOW - MARGIN:
            self.log.popleft()

    def wait(self, tokens: int, now: float | None = None) -> float:
        """Seconds until a call of ``tokens`` may start (0: now)."""
        now = time.monotonic() if now is None else now
        self._trim(now)
        waits = [0.0]
        if self.rpm is not None:
            if self.log:  # evenly spaced
                waits.append(self.log[-1].at + WINDOW / self.rpm * (1 + MARGIN / WINDOW) - now)
            most = max(1, int(self.rpm))  # whole starts a rolling minute may hold (one, for a rate below 1)
            if len(self.log) >= most:  # and never more than rpm in a rolling minute
                waits.append(self.log[len(self.log) - most].at + WINDOW + MARGIN - now)
        if self.tpm is not None and self.log:
            used = sum(s.tokens for s in self.log)
            if used + tokens > self.tpm:
                freed = 0
                for start in self.log:  # the oldest starts leave the window first
                    freed += start.tokens
                    if used - freed + tokens <= self.tpm:
                        waits.append(start.at + WINDOW + MARGIN - now)
                        break
                else:
                    waits.append(self.log[-1].at + WINDOW + MARGIN - now)
        return max(waits)

    def started(self, tokens: int, now: float | None = None) -> Start:
        start = Start(time.monotonic() if now is None else now, tokens)
        self.log.append(start)
        return start

    def ended(self, start: Start, input_tokens: int | None, output_tokens: int | None) -> None:
        """A call reported its usage: its entry in the log now holds what it really used."""
        if output_tokens is not None:
            self.output_tokens.append(output_tokens)
        if input_tokens is not None or output_tokens is not None:
            start.tokens = (input_tokens or 0) + (output_tokens or 0)


@dataclass
class Concurrency:
    """How many calls may be in flight: halved on a 429, grown back by one after ``recover`` successes."""

    ceiling: int
    now: int = 0
    recover: int = 8
    _streak: int = 0
    backoffs: int = 0

    def __post_init__(self) -> None:
        self.now = self.now or self.ceiling

    def rate_limited(self) -> None:
        self.now = max(1, self.now // 2)
        self._streak = 0
        self.backoffs += 1

    def succeeded(self) -> None:
        self._streak += 1
        if self.now < self.ceiling and self._streak >= self.recover:
            self.now += 1
            self._streak = 0

    def describe(self) -> str:
        return "" if self.now == self.ceiling and not self.backoffs else \
            f"concurrency {self.now}/{self.ceiling}" + (" (backed off)" if self.now < self.ceiling else "")
