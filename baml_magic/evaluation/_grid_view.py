"""The evaluation grid as a person sees it: a live table (a widget in Jupyter, progress lines in a terminal),
left as a static table at the end; the text view says each cell's verdict and what failed."""

from __future__ import annotations

import html
import json
from typing import Any

from baml_magic import _render as render
from baml_magic._render import money, short
from baml_magic.evaluation._grid_result import GridResult, _ms
from baml_magic.many import plain
from baml_magic.views import StatusLine, close_widgets, wants_widgets

VERDICT_COLORS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#6a1b9a", "cancelled": "#ef6c00", "done": "#1565c0"}



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
            f"{html.escape(str(k))}</th><td>{html.escape(short(v, 200))}</td></tr>"
            for k, v in data.items())
        return f'<table class="baml-grid-value">{cells}</table>'
    style = "background:#fff3cd" if "" in differs else ""
    klass = "baml-differs" if "" in differs else ""
    text = html.escape(short(render.to_text(value), 400))
    return f'<div class="baml-grid-value {klass}" style="{style}">{text}</div>'


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
                worst = _worst([str(o.verdict) for o in outcomes])
                color = VERDICT_COLORS.get(worst, "#333")
                ok = f"{s.passed}/{len(outcomes)}"
                figures = " · ".join(x for x in (f"p50 {_ms(s.p50)}" if s.p50 is not None else "",
                                                  f"p95 {_ms(s.p95)}" if grid.repeat > 1 and s.p95 else "",
                                                  f"{s.tokens_in + s.tokens_out} tok", money(s.cost)) if x)
                reasons = sorted({o.reason for o in outcomes if o.reason})
                said = html.escape(short("; ".join(reasons), 160))
                reason = f'<div class="baml-grid-reason">{said}</div>' if reasons else ""
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


def _worst(verdicts: list[str]) -> str:
    return next((v for v in ("error", "fail", "cancelled") if v in verdicts), verdicts[0] if verdicts else "")


def table_text(grid: GridResult) -> str:
    """The grid as text: each cell's passes, its worst verdict and p50; then what failed and why."""
    width = max([len(r) for r in grid.rows] + [4])
    lines = [grid.line(), " " * width + "  " + "  ".join(f"{short(c, 24):>24}" for c in grid.clients)]
    for row in grid.rows:
        cells = []
        for client in grid.clients:
            s = grid.stats(row, client)
            worst = _worst([str(o.verdict) for o in grid.cell(row, client)])
            cells.append(f"{f'{s.passed}/{s.runs} {worst} ' + (_ms(s.p50) if s.p50 is not None else ''):>24}")
        lines.append(f"{row:<{width}}  " + "  ".join(cells))
    failed = dict.fromkeys(f"  {o.verdict}: {o.row} on {o.client}: {o.reason or o.verdict}"
                           for o in grid.outcomes if o.verdict in ("fail", "error"))
    return "\n".join([*lines, *failed])


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
