"""Kept runs as a table (``Fn.history``, ``%baml runs``) and as data (``rows()``, ``to_pandas()``)."""

from __future__ import annotations

import datetime
import html
from typing import Any

from baml_magic._render import Table, money, short
from baml_magic.history._runs import RunHistory, RunRecord
from baml_magic.many import to_pandas

SHOWN = 50  # rows a table shows (the data has them all)
HEADERS = ["when", "function", "version", "kind", "client", "inputs", "value", "result", "tokens in / out",
           "latency", "cost"]


class Runs:
    """A function's kept runs (every function's when ``function`` is None), newest first."""

    def __init__(self, history: RunHistory, function: str | None = None) -> None:
        self._history = history
        self.function = function

    @property
    def records(self) -> list[RunRecord]:
        return self._history.of(self.function)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per run, newest first, with its version's number (``version_number``)."""
        out = []
        for record in self.records:
            row = record.as_dict()
            row["version_number"] = self._history.number(record.function, record.version)
            out.append(row)
        return out

    def to_pandas(self) -> Any:
        return to_pandas(self.rows())

    def versions(self) -> list[dict[str, Any]]:
        """The versions runs came from: number, hash, when first seen, how many runs and how many passed."""
        names = [self.function] if self.function else sorted({r.function for r in self._history.of()})
        out = []
        for name in names:
            records = self._history.of(name)
            for number, version in enumerate(self._history.versions_of(name), 1):
                mine = [r for r in records if r.version == version.hash]
                out.append({"function": name, "version": number, "hash": version.hash, "runs": len(mine),
                            "passed": sum(r.passed is True for r in mine), "first_seen": version.first_seen})
        return out

    def __len__(self) -> int:
        return len(self.records)

    def table(self) -> Table:
        records = self.records
        rows = []
        for r in records[:SHOWN]:
            result = r.verdict or r.status
            if r.replayed:
                result += " (replayed)"
            if r.incomplete:
                result += f" ({r.incomplete})"
            rows.append([datetime.datetime.fromtimestamp(r.at).strftime("%H:%M:%S"), r.function,
                         self._history.label(r.function, r.version), r.kind + (f" {r.test}" if r.test else ""),
                         r.client or "", short(r.inputs, 48), short(r.error or r.value, 48), result,
                         f"{r.tokens_in if r.tokens_in is not None else '?'} / "
                         f"{r.tokens_out if r.tokens_out is not None else '?'}",
                         "" if r.latency is None else f"{r.latency * 1000:.0f} ms", money(r.cost)])
        versions = {(r.function, r.version) for r in records}
        notes = [f"{len(records)} runs of {len(versions)} version{'s' if len(versions) != 1 else ''}"
                 + (f"; the newest {SHOWN} shown (rows() has them all)" if len(records) > SHOWN else "")]
        return Table(HEADERS, rows, "baml-magic-runs", "no runs kept yet", notes if records else ())

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        title = f"{self.function}.history" if self.function else "%baml runs"
        return f'<div class="baml-magic-history"><b>{html.escape(title)}</b>{self.table()._repr_html_()}</div>'
