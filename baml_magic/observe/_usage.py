"""This session's calls summed up per function: count, failures, tokens, latency, time to first token.

Totals are kept as calls end, so they count every call of the session even when the history of
runs is bounded; the p95 latency is that of the calls still in the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from baml_magic._render import money
from baml_magic._types import Status
from baml_magic.calls import Run

HEADERS = ["function", "calls", "failed", "cancelled", "tokens in", "tokens out", "cost", "mean latency",
           "p95 latency", "mean first token", "cached"]


@dataclass
class Totals:
    """One function's calls so far."""

    calls: int = 0
    failed: int = 0
    cancelled: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    first_token: float = 0.0
    with_first_token: int = 0
    cost: float = 0.0
    priced: int = 0  # calls whose model has a price (cost counts only those)
    cached: int = 0
    saved_cost: float = 0.0
    estimated: bool = False  # some calls' tokens are counted from the text: the provider sent no counts
    unpriced: dict[str, None] = field(default_factory=dict)  # models that answered with no price known

    def add(self, run: Run, cost: float | None = None, saved_cost: float | None = None) -> None:
        usage = run.usage
        if cost is not None:
            self.cost += cost
            self.priced += 1
        elif run.model and (usage.input_tokens or usage.output_tokens):
            self.unpriced[run.model] = None
        if run.cached is not None:
            self.cached += 1
            self.saved_cost += saved_cost or 0.0
        self.calls += 1
        self.failed += run.status is Status.ERROR
        self.cancelled += run.status is Status.CANCELLED
        self.tokens_in += usage.input_tokens or 0
        self.tokens_out += usage.output_tokens or 0
        self.estimated = self.estimated or usage.estimated
        self.latency += run.elapsed
        if run.time_to_first_token is not None:
            self.first_token += run.time_to_first_token
            self.with_first_token += 1


@dataclass
class Ledger:
    """Totals per function, added to as each call ends."""

    by_function: dict[str, Totals] = field(default_factory=dict)
    hints: dict[str, None] = field(default_factory=dict)  # how to get real counts where they are estimated

    def add(self, run: Run, cost: float | None = None, saved_cost: float | None = None) -> None:
        self.by_function.setdefault(run.function, Totals()).add(run, cost, saved_cost)
        if run.usage.estimated and run.facts.hint:
            self.hints[run.facts.hint] = None

    def price_notes(self) -> list[str]:
        """Why a cost is blank: the models with no price, and the setting that gives them one."""
        models = list(dict.fromkeys(m for t in self.by_function.values() for m in t.unpriced))
        if not models:
            return []
        example = ", ".join(f"{m!r}: (0.15, 0.6)" for m in models[:2])
        return [f"cost blank: no price known for {', '.join(map(repr, models))}; set one in US dollars per "
                f"million tokens (input, output): %config BamlMagic.prices = {{{example}}}"]


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.0f} ms"


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def rows(ledger: Ledger, recent: Iterable[Run]) -> list[list[str]]:
    """One row a function: calls, failed, cancelled, tokens in, tokens out, mean/p95 latency, mean TTFT."""
    latencies: dict[str, list[float]] = {}
    for run in recent:
        if run.done:
            latencies.setdefault(run.function, []).append(run.elapsed)
    out = []
    for function, t in sorted(ledger.by_function.items()):
        mark = "~" if t.estimated else ""
        out.append([
            function, str(t.calls), str(t.failed), str(t.cancelled), f"{mark}{t.tokens_in}", f"{mark}{t.tokens_out}",
            money(t.cost) if t.priced else "",
            _ms(t.latency / t.calls if t.calls else None),
            _ms(_p95(latencies.get(function, []))),
            _ms(t.first_token / t.with_first_token if t.with_first_token else None),
            str(t.cached) if t.cached else "",
        ])
    return out

