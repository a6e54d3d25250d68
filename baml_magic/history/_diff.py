"""How answers moved between two versions of a function: per grid cell, better, worse or the same.

Runs are matched by what makes them comparable (the test, else the inputs; and the client). A
cell is *better* when its pass rate rose (a test's verdicts, a call's answers), *worse* when it
fell, *changed* when it answered both times with a different value, *same* otherwise, *new* when
the version compared against has no run of it. A *regression* is a test that passed there and
does worse now. Typed values are compared field by field.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from baml_magic import _render as render
from baml_magic._render import short
from baml_magic.history._runs import RunHistory, RunRecord, Version
from baml_magic.many import to_pandas

MARKS = {"better": "▲", "worse": "▼", "same": "=", "changed": "≠", "new": "+"}
COLORS = {"better": "#1a7f37", "worse": "#cf222e", "changed": "#9a6700", "same": "#57606a", "new": "#0969da"}
ORDER = ("better", "worse", "changed", "same", "new")


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Plain data as ``{"field.sub[0]": leaf}``; the whole value under "" when it is a leaf itself."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(leaves(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(leaves(item, f"{path}[{index}]"))
        return out
    return {path: value}


def changed_fields(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """(field, before, after) of every field whose value differs (missing on one side: None); a value with
    nothing on one side (an error) moved as a whole."""
    if before is None or after is None:
        return [] if before == after else [("", before, after)]
    old, new = leaves(before), leaves(after)
    return [(k, old.get(k), new.get(k)) for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]


def _rate(records: Sequence[RunRecord]) -> float | None:
    judged = [r.passed for r in records if r.passed is not None]
    return sum(judged) / len(judged) if judged else None


def _mean(values: list[float | int | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return sum(known) / len(known) if known else None


def verdicts(records: Sequence[RunRecord]) -> str:
    words = [r.verdict or r.status for r in records]
    if not words:
        return "—"
    return words[0] if len(set(words)) == 1 and len(words) == 1 else \
        f"{sum(r.passed is True for r in records)}/{len(records)} pass"


@dataclass
class CellChange:
    """One cell: its runs on the version compared against and now, and what moved."""

    row: str
    client: str
    function: str
    against: str  # the version compared against, as a label ("v1 (3f2a9c1)")
    change: str  # better | worse | changed | same | new
    before: list[RunRecord]
    after: list[RunRecord]
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        """A test that passed on the version compared against and does worse now."""
        return self.change == "worse" and any(r.passed for r in self.before) and \
            any(r.kind == "test" for r in self.after)

    def figure(self, name: str) -> tuple[float | None, float | None]:
        """(before, after) means of ``latency``, ``cost``, ``tokens_in`` or ``tokens_out``."""
        return _mean([getattr(r, name) for r in self.before]), _mean([getattr(r, name) for r in self.after])

    def lines(self, *, figures: bool = True) -> list[str]:
        """The cell as text: what moved, then each changed field (five at most)."""
        head = f"{MARKS[self.change]} {self.change:<7} {self.row} [{self.client}]: {verdicts(self.before)} → " \
               f"{verdicts(self.after)}{_figures(self) if figures else ''}"
        return [head, *(f"      {name or 'value'}: {short(old)} → {short(new)}" for name, old, new in self.fields[:5])]

    def as_dict(self) -> dict[str, Any]:
        latency, cost = self.figure("latency"), self.figure("cost")
        return {"row": self.row, "client": self.client, "function": self.function, "against": self.against,
                "change": self.change, "regression": self.regression, "before": verdicts(self.before),
                "after": verdicts(self.after), "fields": [list(f) for f in self.fields],
                "latency_before": latency[0], "latency_after": latency[1], "cost_before": cost[0],
                "cost_after": cost[1]}


def change_of(before: list[RunRecord], after: list[RunRecord]) -> tuple[str, list[tuple[str, Any, Any]]]:
    if not before:
        return "new", []
    old, new = _rate(before), _rate(after)
    fields = changed_fields(before[0].value, after[0].value) if after else []
    if old is not None and new is not None and new != old:
        return ("better" if new > old else "worse"), fields
    return ("changed" if fields else "same"), fields


def _delta(pairs: list[tuple[float | None, float | None]]) -> float | None:
    both = [(b, a) for b, a in pairs if b is not None and a is not None]
    total = sum(b for b, _ in both)
    return (sum(a for _, a in both) - total) / total if both and total else None


@dataclass
class GridDiff:
    """A grid's cells against another version of each function; ``line()`` counts them."""

    title: str
    cells: list[CellChange]
    against: dict[str, str]  # function -> the version label compared against (or why there is none)

    def counts(self) -> dict[str, int]:
        return {kind: sum(c.change == kind for c in self.cells) for kind in ORDER}

    @property
    def regressions(self) -> list[CellChange]:
        return [c for c in self.cells if c.regression]

    def line(self) -> str:
        """``3 better · 1 worse · 8 same · tokens +4 % · latency -10 % · cost -12 %``."""
        parts = [f"{n} {kind}" for kind, n in self.counts().items() if n or kind in ("better", "worse", "same")]
        for name, word in (("tokens_out", "tokens out"), ("latency", "latency"), ("cost", "cost")):
            delta = _delta([c.figure(name) for c in self.cells])
            if delta is not None:
                parts.append(f"{word} {delta:+.0%}".replace("%", " %"))
        against = ", ".join(f"{f} {v}" for f, v in self.against.items())
        return f"{self.title} vs {against}: " + " · ".join(parts)

    def rows(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.cells]

    def to_pandas(self) -> Any:
        return to_pandas(self.rows())

    def __repr__(self) -> str:
        return "\n".join([self.line(), *(line for c in self.cells for line in c.lines())])

    def _repr_html_(self) -> str:
        rows = list(dict.fromkeys(c.row for c in self.cells))
        clients = list(dict.fromkeys(c.client for c in self.cells))
        by = {(c.row, c.client): c for c in self.cells}
        head = "".join(f"<th>{html.escape(c)}</th>" for c in clients)
        body = []
        for row in rows:
            tds = []
            for client in clients:
                c = by.get((row, client))
                tds.append("<td></td>" if c is None else _cell_html(c))
            body.append(f'<tr><th style="text-align:left">{html.escape(row)}</th>{"".join(tds)}</tr>')
        return (f'<div class="baml-magic-diff"><div style="font-family:monospace;font-size:90%">'
                f"{html.escape(self.line())}</div><table><thead><tr><th></th>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table></div>")


def diff_line_html(line: str) -> str:
    """One line of a unified diff, coloured as a code review shows it."""
    color = "#1a7f37" if line.startswith("+") else "#cf222e" if line.startswith("-") else \
        "#0969da" if line.startswith("@@") else "inherit"
    return f'<span style="color:{color}">{html.escape(line)}</span>'


def _figures(c: CellChange) -> str:
    out = []
    for name, unit in (("latency", "ms"), ("cost", "$")):
        before, after = c.figure(name)
        if before is not None and after is not None and round((after - before) * 1000) != 0:
            moved = render.money(abs(after - before))
            out.append(f"{name} {(after - before) * 1000:+.0f} ms" if unit == "ms" else
                       f"cost {'+' if after >= before else '-'}{moved}")
    return f" ({', '.join(out)})" if out else ""


def _cell_html(c: CellChange) -> str:
    color = COLORS[c.change]
    fields = "".join(
        f'<tr><th style="text-align:left;padding-right:.5em">{html.escape(name or "value")}</th>'
        f'<td><del style="color:#cf222e">{html.escape(short(old))}</del></td>'
        f'<td><ins style="color:#1a7f37">{html.escape(short(new))}</ins></td></tr>' for name, old, new in c.fields[:5])
    more = f"<div>… {len(c.fields) - 5} more fields</div>" if len(c.fields) > 5 else ""
    return (f'<td class="baml-diff-cell" data-change="{c.change}" data-regression="{str(c.regression).lower()}" '
            f'style="vertical-align:top;padding:.3em .6em"><b style="color:{color}">{MARKS[c.change]} {c.change}</b> '
            f"<code>{html.escape(verdicts(c.before))} → {html.escape(verdicts(c.after))}</code>"
            f'<div style="font-size:85%;color:#555">{html.escape(_figures(c).strip(" ()"))}</div>'
            f'{"<table>" + fields + "</table>" if fields else ""}{more}</td>')


_CLIENT_NAME = re.compile(r"^\s*client(?:<\w+>)?\s+(\w+)")


def _own_client(version: Version) -> str | None:
    """The client a version ran with of its own (its client block's name)."""
    found = _CLIENT_NAME.match(version.client_source)
    return found.group(1) if found else None


def diff_runs(title: str, now: list[tuple[str, str, RunRecord]], history: RunHistory,
              against: Callable[[str], Version | None], kinds: tuple[str, ...] | None,
              own: str | None = None) -> GridDiff:
    """The runs of a grid just run (``(row, column, record)``) against each function's version ``against``.

    ``kinds``: which earlier runs count (tests against tests; ad-hoc inputs against any run of them). ``own``: the
    column of each function's own client, whose cells are compared with the earlier version's own client's runs
    (an edit that switched the client is compared with the client it replaced).
    """
    cells: dict[tuple[str, str], list[RunRecord]] = {}
    for row, column, record in now:
        cells.setdefault((row, column), []).append(record)
    labels: dict[str, str] = {}
    earlier: dict[str, dict[str, list[RunRecord]]] = {}
    then_own: dict[str, str | None] = {}
    for function in dict.fromkeys(r.function for _, _, r in now):
        version = against(function)
        if version is None:
            labels[function] = "no earlier version"
            earlier[function] = {}
            continue
        labels[function] = history.label(function, version.hash)
        then_own[function] = _own_client(version)
        grouped: dict[str, list[RunRecord]] = {}
        for record in history.runs_of(function, version.hash, kinds):
            grouped.setdefault(record.key, []).append(record)
        earlier[function] = grouped
    changes = []
    for (row, column), after in cells.items():
        function = after[0].function
        key = after[0].key
        if column == own and key not in earlier[function] and then_own.get(function):
            key = key.rsplit("\x00", 1)[0] + f"\x00{then_own[function]}"  # the client the edit replaced
        before = earlier[function].get(key, [])[:len(after)]
        change, fields = change_of(before, after)
        changes.append(CellChange(row, column, function, labels[function], change, before, after, fields))
    return GridDiff(title, changes, labels)
