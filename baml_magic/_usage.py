"""This session's calls summed up per function: count, failures, tokens, latency, time to first token."""

from __future__ import annotations

import statistics
from collections import defaultdict

from baml_magic._run import Run


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.0f} ms"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def rows(runs: list[Run]) -> list[list[str]]:
    """One row a function: calls, failed, cancelled, tokens in, tokens out, mean/p95 latency, mean TTFT."""
    by_function: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.done:
            by_function[run.function].append(run)
    out = []
    for function, group in sorted(by_function.items()):
        latencies = [r.elapsed for r in group]
        ttfts = [r.time_to_first_token for r in group if r.time_to_first_token is not None]
        tokens_in = sum(r.usage.input_tokens or 0 for r in group)
        tokens_out = sum(r.usage.output_tokens or 0 for r in group)
        out.append([
            function,
            str(len(group)),
            str(sum(r.status == "error" for r in group)),
            str(sum(r.status == "cancelled" for r in group)),
            str(tokens_in),
            str(tokens_out),
            _ms(statistics.fmean(latencies)),
            _ms(_p95(latencies)),
            _ms(statistics.fmean(ttfts) if ttfts else None),
        ])
    return out


HEADERS = ["function", "calls", "failed", "cancelled", "tokens in", "tokens out", "mean latency", "p95 latency",
           "mean first token"]
