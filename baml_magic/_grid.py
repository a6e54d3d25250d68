"""The evaluation grid: cases (test blocks or ad-hoc inputs) x clients x repeats, run concurrently.

The calls go through ``Fn.map``'s engine (bounded concurrency, Retry-After, an interrupt that
aborts every request in flight and keeps what finished). Each call that ends becomes an
Outcome: BAML's verdict for a test block, the value for an ad-hoc input. The view is a table
(one row per case, one column per client) redrawn by the live driver while the grid fills, and
left as a static table at the end; the GridResult is the data.
"""

from __future__ import annotations

import html
import importlib
import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from baml_py.errors import BamlValidationError

from baml_magic import _render as render
from baml_magic._errors import interrupted, short_error
from baml_magic._live import Live
from baml_magic._map import MapResult, run_map
from baml_magic._prices import money
from baml_magic._redact import redact
from baml_magic._run import Run
from baml_magic._test_blocks import Constraint
from baml_magic._types import Status
from baml_magic._verdict import field_checks, judge, plain
from baml_magic._views import StatusLine, close_widgets, wants_widgets

VERDICT_COLORS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#6a1b9a", "cancelled": "#ef6c00", "done": "#1565c0"}


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
    verdict: str  # pass | fail | error | cancelled (a test) -- done | error | cancelled (an ad-hoc input)
    reason: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    value: Any = None
    latency: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = plain(self.value)
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

    @property
    def total(self) -> int:
        return len(self.rows) * len(self.clients) * self.repeat

    def cell(self, row: str, client: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.row == row and o.client == client]

    def stats(self, row: str | None = None, client: str | None = None) -> Stats:
        stats = Stats()
        for outcome in self.outcomes:
            if (row is None or outcome.row == row) and (client is None or outcome.client == client):
                stats.add(outcome)
        return stats

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per client: runs, passed, failed, errors, pass rate, latency p50/p95, tokens, cost."""
        return {client: self.stats(client=client).row() for client in self.clients}

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "title": self.title, "rows": self.rows, "clients": self.clients,
                           "repeat": self.repeat, "status": str(self.status), "elapsed": self.elapsed,
                           "outcomes": [o.as_dict() for o in self.outcomes], "summary": self.summary()},
                          default=str)

    def to_pandas(self) -> Any:
        """One row per call (needs pandas)."""
        try:
            pandas = importlib.import_module("pandas")
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas (or use to_json())") from None
        return pandas.DataFrame([o.as_dict() for o in self.outcomes])

    def line(self) -> str:
        passed = sum(o.verdict in ("pass", "done") for o in self.outcomes)
        noun = "passed" if self.kind == "test" else "answered"
        return (f"{self.title} · {len(self.rows)} × {len(self.clients)} client{'s' if len(self.clients) != 1 else ''}"
                f" × {self.repeat} · {len(self.outcomes)}/{self.total} run · {passed} {noun} · {self.status}"
                f" · {self.elapsed:.1f} s")

    def summary_table(self) -> render.Table:
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
        return self.line() + "\n" + repr(self.summary_table())

    def _repr_html_(self) -> str:
        return (f'<div class="baml-magic-grid-result" data-status="{self.status}"><code>'
                f"{html.escape(self.line())}</code>{self.summary_table()._repr_html_()}</div>")


# -- the table ------------------------------------------------------------------------------------


def _differing(values: list[Any]) -> set[str]:
    """Top-level fields whose values differ across clients ("" for a whole value that differs)."""
    data = [plain(v) for v in values]
    if len(data) < 2:
        return set()
    if all(isinstance(d, dict) for d in data):
        keys = set().union(*data)
        return {k for k in keys if len({json.dumps(d.get(k), sort_keys=True, default=str) for d in data}) > 1}
    return {""} if len({json.dumps(d, sort_keys=True, default=str) for d in data}) > 1 else set()


def _value_html(value: Any, differs: set[str]) -> str:
    data = plain(value)
    if isinstance(data, dict):
        cells = "".join(
            f'<tr class="{"baml-differs" if k in differs else ""}" '
            f'style="{"background:#fff3cd" if k in differs else ""}"><th style="text-align:left;padding-right:.5em">'
            f"{html.escape(str(k))}</th><td>{html.escape(json.dumps(v, default=str)[:200])}</td></tr>"
            for k, v in data.items())
        return f'<table class="baml-grid-value">{cells}</table>'
    style = "background:#fff3cd" if "" in differs else ""
    klass = "baml-differs" if "" in differs else ""
    return f'<div class="baml-grid-value {klass}" style="{style}">{html.escape(render.to_text(value))[:400]}</div>'


def table_html(grid: GridResult, final: bool) -> str:
    """The grid as an HTML table: a row per case, a column per client."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in grid.clients)
    body = []
    for row in grid.rows:
        cells = []
        firsts = {c: next((o.value for o in grid.cell(row, c) if o.verdict in ("pass", "fail", "done")), None)
                  for c in grid.clients}
        differs = _differing([v for v in firsts.values() if v is not None]) if grid.kind == "compare" else set()
        for client in grid.clients:
            outcomes = grid.cell(row, client)
            s = grid.stats(row, client)
            if not outcomes:
                state = "pending"
                inner = '<span style="color:#999">…</span>'
            else:
                state = "done" if len(outcomes) == grid.repeat else "running"
                verdicts = [o.verdict for o in outcomes]
                worst = next((v for v in ("error", "fail", "cancelled") if v in verdicts), verdicts[0])
                color = VERDICT_COLORS.get(worst, "#333")
                ok = f"{s.passed}/{len(outcomes)}"
                figures = " · ".join(x for x in (f"p50 {_ms(s.p50)}" if s.p50 is not None else "",
                                                  f"p95 {_ms(s.p95)}" if grid.repeat > 1 and s.p95 else "",
                                                  f"{s.tokens_in + s.tokens_out} tok", money(s.cost)) if x)
                reasons = sorted({o.reason for o in outcomes if o.reason})
                reason = f'<div class="baml-grid-reason">{html.escape("; ".join(reasons)[:160])}</div>' if reasons \
                    else ""
                checks = sorted({f"{k} {'✓' if v else '✗'}" for o in outcomes for k, v in o.checks.items()})
                check_line = f'<div class="baml-grid-checks">{html.escape(" ".join(checks))}</div>' if checks else ""
                value = _value_html(firsts[client], differs) if grid.kind == "compare" and firsts[client] is not None \
                    else ""
                inner = (f'<b style="color:{color}">{ok} {html.escape(worst)}</b>{value}'
                         f'<div style="font-size:85%;color:#555">{html.escape(figures)}</div>{check_line}{reason}')
            cells.append(f'<td class="baml-grid-cell" data-row="{html.escape(row)}" data-client="{html.escape(client)}"'
                         f' data-state="{state}" style="vertical-align:top;padding:.3em .6em">{inner}</td>')
        body.append(f'<tr><th style="text-align:left">{html.escape(row)}</th>{"".join(cells)}</tr>')
    caption = html.escape(grid.line())
    return (f'<div class="baml-magic-grid" data-status="{grid.status}" data-final="{str(final).lower()}">'
            f'<div style="font-family:monospace;font-size:90%">{caption}</div>'
            f'<table><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def table_text(grid: GridResult) -> str:
    width = max([len(r) for r in grid.rows] + [4])
    lines = [grid.line(), " " * width + "  " + "  ".join(f"{c[:18]:>18}" for c in grid.clients)]
    for row in grid.rows:
        cells = []
        for client in grid.clients:
            s = grid.stats(row, client)
            cells.append(f"{f'{s.passed}/{s.runs} ' + (_ms(s.p50) if s.p50 is not None else ''):>18}")
        lines.append(f"{row:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


class GridView:
    """The table while the grid fills (a widget in Jupyter, progress lines in a terminal), static at the end."""

    def __init__(self, grid: GridResult, display_mode: str) -> None:
        from IPython.display import display

        self.grid = grid
        self.widget: Any = None
        self.line: StatusLine | None = None
        if wants_widgets(display_mode):
            import ipywidgets as widgets

            self.widget = widgets.HTML(table_html(grid, False))
            self.widget.add_class("baml-magic-grid-live")
            bundle = {"text/plain": table_text(grid), **(self.widget._repr_mimebundle_() or {})}
            self.handle = display(bundle, raw=True, display_id=True)
        elif display_mode != "none":
            self.line = StatusLine(grid.line(), "text")
        self.quiet = display_mode == "none"

    def draw(self) -> None:
        if self.widget is not None:
            self.widget.value = table_html(self.grid, False)
        elif self.line is not None:
            self.line.update(self.grid.line())

    def finish(self) -> None:
        if self.widget is not None:
            self.handle.update({"text/plain": table_text(self.grid), "text/html": table_html(self.grid, True)},
                               raw=True)
            close_widgets(self.widget)
        elif self.line is not None:
            self.line.update(self.grid.line())
            print(table_text(self.grid), flush=True)


def _outcome(kind: str, case: Case, client: str, repeat: int, state: MapResult, index: int,
             cost_of: Callable[[Run], float | None]) -> Outcome:
    run = state.runs[index]
    status = state.states[index]
    result = state.results[index]
    out = Outcome(case.row, case.function, client, repeat, "error")
    if run is not None:
        usage = run.usage
        out.latency, out.tokens_in, out.tokens_out = run.elapsed, usage.input_tokens, usage.output_tokens
        out.cost, out.cached = cost_of(run), run.cached is not None
    if status is Status.CANCELLED:
        out.verdict, out.reason = "cancelled", "cancelled"
    elif status is Status.DONE:
        out.value = result
        if kind == "test":
            verdict = judge(result, case.args, round((out.latency or 0) * 1000), case.constraints)
            out.verdict, out.reason, out.checks = ("pass" if verdict.passed else "fail"), verdict.reason, \
                verdict.checks
        else:
            out.verdict, out.checks = "done", field_checks(result)
    else:
        error = result if isinstance(result, BaseException) else None
        out.verdict = "fail" if isinstance(error, BamlValidationError) else "error"
        out.reason = redact(short_error(error).splitlines()[0][:200]) if error is not None else "error"
    return out


def run_grid(grid: GridResult, cases: list[Case], start: Callable[[Case, str], Run], *, concurrency: int,
             display: str, refresh_hz: float, max_retry_wait: float, cost_of: Callable[[Run], float | None],
             kept_in: str) -> None:
    """Run every case on every client ``grid.repeat`` times, filling ``grid`` as calls end.

    An interrupt aborts every call in flight; what finished stays in ``grid`` (``kept_in`` says where).
    """
    plan = [(case, client, r) for r in range(grid.repeat) for case in cases for client in grid.clients]
    state = MapResult("test" if grid.kind == "test" else "compare", len(plan))
    done: set[int] = set()
    view = GridView(grid, display)

    def harvest() -> None:
        for index, status in enumerate(state.states):
            if index not in done and status in (Status.DONE, Status.ERROR, Status.CANCELLED):
                done.add(index)
                case, client, repeat = plan[index]
                grid.outcomes.append(_outcome(grid.kind, case, client, repeat, state, index, cost_of))
        grid.elapsed = state.elapsed

    def begin(args: tuple[Any, ...], _: dict[str, Any]) -> Run:
        case, client, _repeat = plan[args[0]]
        if case.problem:
            raise TypeError(case.problem)
        return start(case, client)

    def draw() -> None:
        harvest()
        view.draw()

    def final() -> None:
        harvest()
        grid.status = Status.CANCELLED if state.status is Status.CANCELLED else Status.DONE
        view.finish()

    def live(_: MapResult) -> Live:
        return Live(draw, final=final, finished=lambda: state.ended is not None, refresh_hz=min(refresh_hz, 8.0),
                    name=f"{grid.title}-grid")

    try:
        run_map(begin, ["case"], [(i,) for i in range(len(plan))], state, concurrency=concurrency,
                on_error="return", display=display, refresh_hz=refresh_hz, max_retry_wait=max_retry_wait,
                progress=live)
    except KeyboardInterrupt:
        raise interrupted(grid.title, f"finished results are in {kept_in}") from None
    finally:
        harvest()
        order = {(c.row, cl, r): i for i, (c, cl, r) in enumerate(plan)}
        grid.outcomes.sort(key=lambda o: order.get((o.row, o.client, o.repeat), 0))
        grid.status = Status.CANCELLED if state.status is Status.CANCELLED else Status.DONE
