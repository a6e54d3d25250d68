"""``%baml diff``: two versions of a function, their BAML side by side as a diff, and how the answers moved.

Answers move where both versions ran the same input (or test) on the same client: the newest run of
each is compared, field by field, as ``%baml test --diff`` compares a grid's cells.
"""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass
from typing import Any

from baml_magic._render import short
from baml_magic.history._diff import COLORS, MARKS, CellChange, change_of, diff_line_html, verdicts
from baml_magic.history._runs import RunHistory, Version
from baml_magic.many import to_pandas


def source_diff(old: Version, new: Version, old_label: str, new_label: str) -> list[str]:
    """A unified diff of the function's BAML and its client's, line by line (no line-end marks)."""
    def text(version: Version) -> list[str]:
        client = ["", version.client_source] if version.client_source else []
        return "\n".join([version.source, *client]).splitlines()

    return list(difflib.unified_diff(text(old), text(new), old_label, new_label, lineterm="", n=3))


@dataclass
class VersionDiff:
    """Two versions of one function: the source diff and each input's answers on both."""

    function: str
    old: str  # labels: "v1 (3f2a9c1)"
    new: str
    lines: list[str]
    answers: list[CellChange]

    def line(self) -> str:
        counts = {kind: sum(c.change == kind for c in self.answers) for kind in MARKS}
        moved = " · ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no input ran on both"
        changed = sum(line[:1] in "+-" and line[:3] not in ("+++", "---") for line in self.lines)
        return f"{self.function}: {self.old} → {self.new} · {changed} lines changed · answers: {moved}"

    def rows(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.answers]

    def to_pandas(self) -> Any:
        return to_pandas(self.rows())

    def __repr__(self) -> str:
        answers = [line for c in self.answers for line in c.lines(figures=False)]
        return "\n".join([self.line(), *(self.lines or ["(the same BAML)"]), *answers])

    def _repr_html_(self) -> str:
        source = "\n".join(diff_line_html(line) for line in self.lines) or "(the same BAML)"
        rows = "".join(
            f'<tr data-change="{c.change}"><td><b style="color:{COLORS[c.change]}">{MARKS[c.change]} {c.change}'
            f"</b></td><td><code>{html.escape(c.row)}</code></td><td>{html.escape(c.client)}</td>"
            f"<td><code>{html.escape(verdicts(c.before))} → {html.escape(verdicts(c.after))}</code></td><td>"
            + "<br>".join(f"{html.escape(n or 'value')}: <del>{html.escape(short(o))}</del> → "
                          f"<ins>{html.escape(short(v))}</ins>" for n, o, v in c.fields[:5])
            + "</td></tr>" for c in self.answers)
        table = (f"<table><thead><tr><th></th><th>input</th><th>client</th><th>result</th><th>fields</th></tr>"
                 f"</thead><tbody>{rows}</tbody></table>") if rows else "<em>no input ran on both versions</em>"
        return (f'<div class="baml-magic-version-diff"><div style="font-family:monospace;font-size:90%">'
                f"{html.escape(self.line())}</div><pre class='baml-magic-source-diff'>{source}</pre>{table}</div>")


def version_diff(history: RunHistory, function: str, old: Version, new: Version) -> VersionDiff:
    """The source diff of two versions and the answers of every input both ran (newest run of each)."""
    old_label, new_label = history.label(function, old.hash), history.label(function, new.hash)
    answered = ("call", "map", "batch", "test", "compare")  # an optimizer's scores are not an answer to compare
    before: dict[str, Any] = {}
    for record in history.runs_of(function, old.hash, answered):
        before.setdefault(record.key, record)
    answers = []
    seen: set[str] = set()
    for record in history.runs_of(function, new.hash, answered):
        if record.key in seen or record.key not in before:
            continue
        seen.add(record.key)
        change, fields = change_of([before[record.key]], [record])
        row = record.test or short(record.inputs)
        answers.append(CellChange(row, record.client or "", function, old_label, change, [before[record.key]],
                                  [record], fields))
    return VersionDiff(function, old_label, new_label, source_diff(old, new, old_label, new_label), answers)
