"""What an evaluation grid holds: its cases, each call's Outcome (with BAML's verdict), their summaries."""

from __future__ import annotations

import html
import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from baml_magic import _render as render
from baml_magic._render import money
from baml_magic._types import Status, Usage, Verdict
from baml_magic.many import plain, to_pandas
from baml_magic.sources import Constraint


@dataclass(frozen=True)
class Case:
    """One row of a grid: the function to call, its arguments, and (for a test block) its constraints."""

    row: str
    function: str
    args: dict[str, Any]
    constraints: tuple[Constraint, ...] = ()
    problem: str | None = None  # set when the case can't run (it counts as an error)


@dataclass
class Outcome:
    """One call of the grid and what came of it."""

    row: str
    function: str
    client: str
    repeat: int
    verdict: Verdict  # pass | fail | error | cancelled (a test) -- done | error | cancelled (an ad-hoc input)
    reason: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    value: Any = None
    latency: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    cached: bool = False

    @property
    def usage(self) -> Usage:
        """The call's tokens as a Usage (``tokens_in`` / ``tokens_out`` are its columns in to_json and to_pandas)."""
        return Usage(self.tokens_in, self.tokens_out)

    def as_dict(self) -> dict[str, Any]:
        """The outcome as a row: input, client, repeat, verdict, value, latency, tokens, cost."""
        data = asdict(self)
        data["value"] = plain(self.value)
        data["verdict"] = str(self.verdict)
        return data


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.0f} ms"


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Stats:
    """A cell's or a client's outcomes summed up."""

    runs: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    cancelled: int = 0
    latencies: list[float] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None

    def add(self, outcome: Outcome) -> None:
        self.runs += 1
        self.passed += outcome.verdict in ("pass", "done")
        self.failed += outcome.verdict == "fail"
        self.errors += outcome.verdict == "error"
        self.cancelled += outcome.verdict == "cancelled"
        if outcome.latency is not None and outcome.verdict in ("pass", "fail", "done"):
            self.latencies.append(outcome.latency)
        self.tokens_in += outcome.tokens_in or 0
        self.tokens_out += outcome.tokens_out or 0
        if outcome.cost is not None:
            self.cost = (self.cost or 0.0) + outcome.cost

    @property
    def p50(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def p95(self) -> float | None:
        return _percentile(self.latencies, 0.95)

    def row(self) -> dict[str, Any]:
        return {"runs": self.runs, "passed": self.passed, "failed": self.failed, "errors": self.errors,
                "cancelled": self.cancelled, "pass_rate": self.passed / self.runs if self.runs else None,
                "p50_ms": None if self.p50 is None else round(self.p50 * 1000),
                "p95_ms": None if self.p95 is None else round(self.p95 * 1000),
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "cost": self.cost}


@dataclass
class GridResult:
    """A grid's outcomes (filled in as calls end) and their summaries; ``to_json()``, ``to_pandas()``."""

    kind: Literal["test", "compare"]
    title: str
    rows: list[str]
    clients: list[str]
    repeat: int
    outcomes: list[Outcome] = field(default_factory=list)
    status: Status = Status.RUNNING
    elapsed: float = 0.0
    diff: Any = None  # how each cell moved against another version (a GridDiff), when asked for

    @property
    def total(self) -> int:
        """How many calls the grid asks for: rows x clients x repeats."""
        return len(self.rows) * len(self.clients) * self.repeat

    def cell(self, row: str, client: str) -> list[Outcome]:
        """The outcomes of one row and client (one per repeat)."""
        return [o for o in self.outcomes if o.row == row and o.client == client]

    def stats(self, row: str | None = None, client: str | None = None) -> Stats:
        """Latency p50/p95, tokens and cost of one row and client."""
        stats = Stats()
        for outcome in self.outcomes:
            if (row is None or outcome.row == row) and (client is None or outcome.client == client):
                stats.add(outcome)
        return stats

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per client: runs, passed, failed, errors, pass rate, latency p50/p95, tokens, cost."""
        return {client: self.stats(client=client).row() for client in self.clients}

    def to_json(self) -> str:
        """Every call's outcome as JSON (what ``rows()`` gives, with the grid's title)."""
        return json.dumps({"kind": self.kind, "title": self.title, "rows": self.rows, "clients": self.clients,
                           "repeat": self.repeat, "status": str(self.status), "elapsed": self.elapsed,
                           "outcomes": [o.as_dict() for o in self.outcomes], "summary": self.summary()},
                          default=str)

    def to_pandas(self) -> Any:
        """One row per call (needs pandas)."""
        return to_pandas(o.as_dict() for o in self.outcomes)

    def line(self) -> str:
        """One line: the grid's size, calls run, verdicts and status."""
        passed = sum(o.verdict in ("pass", "done") for o in self.outcomes)
        noun = "passed" if self.kind == "test" else "answered"
        return (f"{self.title} · {len(self.rows)} × {len(self.clients)} client{'s' if len(self.clients) != 1 else ''}"
                f" × {self.repeat} · {len(self.outcomes)}/{self.total} run · {passed} {noun} · {self.status}"
                f" · {self.elapsed:.1f} s")

    def summary_table(self) -> render.Table:
        """Per client: passed, failed, errors, latency and cost, as a table."""
        rows = []
        for client, s in self.summary().items():
            rate = "" if s["pass_rate"] is None else f"{s['pass_rate']:.0%}"
            rows.append([client, str(s["runs"]), f"{s['passed']}", rate,
                         _ms(None if s["p50_ms"] is None else s["p50_ms"] / 1000),
                         _ms(None if s["p95_ms"] is None else s["p95_ms"] / 1000),
                         f"{s['tokens_in']} / {s['tokens_out']}", money(s["cost"])])
        ok = "passed" if self.kind == "test" else "answered"
        return render.Table(["client", "runs", ok, "rate", "p50", "p95", "tokens in / out", "cost"], rows,
                            "baml-magic-grid-summary", "no runs")

    def __repr__(self) -> str:
        diff = "" if self.diff is None else "\n" + repr(self.diff)
        return self.line() + "\n" + repr(self.summary_table()) + diff

    def _repr_html_(self) -> str:
        diff = "" if self.diff is None else self.diff._repr_html_()
        return (f'<div class="baml-magic-grid-result" data-status="{self.status}"><code>'
                f"{html.escape(self.line())}</code>{self.summary_table()._repr_html_()}{diff}</div>")
