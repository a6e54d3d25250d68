"""What BAML's optimizer found, read from its artifacts: candidates, their scores, the Pareto frontier, diffs.

The optimizer (``baml-cli optimize``) writes ``config.json``, ``candidates/NN_candidate.json`` (each
candidate's prompt and scores) and, at its end, ``pareto_frontier.json`` into its run folder. This
module reads them, at any moment while it runs and after a restart, into plain data.
"""

from __future__ import annotations

import difflib
import html
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from baml_magic._errors import ShortError
from baml_magic._redact import redact
from baml_magic._render import Table, short
from baml_magic.history import diff_line_html
from baml_magic.many import to_pandas
from baml_magic.sources import with_prompt

OBJECTIVES = {"accuracy": ("pass_rate", True), "tokens": ("tokens", False), "latency": ("latency_ms", False),
              "prompt_tokens": ("prompt_tokens", False), "completion_tokens": ("completion_tokens", False)}


class OptimizerError(ShortError):
    """BAML's optimizer could not run or stopped early (a budget too small for the trials, a client it can't
    call, no test block for the function); the message is its own reason, in one line."""


@dataclass
class Candidate:
    """One prompt the optimizer tried, and how it scored on the function's tests."""

    id: int
    iteration: int
    method: str  # Initial | Reflection | Merge
    parents: list[int]
    prompt: str
    source: str  # the function's BAML with this prompt (what apply binds)
    pass_rate: float | None
    tests_passed: int | None
    tests_total: int | None
    prompt_tokens: float | None
    completion_tokens: float | None
    latency_ms: float | None
    schema: dict[str, Any] = field(default_factory=dict)  # classes and enums as the candidate describes them

    @property
    def tokens(self) -> float | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0.0) + (self.completion_tokens or 0.0)

    def score(self, name: str) -> float | None:
        value: float | None = getattr(self, OBJECTIVES[name][0])
        return value

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        data["tokens"] = self.tokens
        return data


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def read_candidate(path: Path, initial_source: str) -> Candidate | None:
    """A candidate file, its prompt applied to the function's initial BAML; None while it is half written."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        return _candidate(data, initial_source)
    except (TypeError, ValueError, AttributeError) as exc:
        raise OptimizerError(f"{path} is not a candidate file as BAML's optimizer writes it ({exc}); put it back as "
                             "it was, or open another run's folder") from None


def _candidate(data: Any, initial_source: str) -> Candidate:
    function = data.get("function") or {}
    scores = data.get("scores") or {}
    prompt = str(function.get("prompt_text") or "")
    # The first candidate is the function as it was: its own text, so it is the function's own version.
    initial = data.get("method") == "Initial" or int(data.get("id", -1)) == 0
    source = initial_source if initial else with_prompt(initial_source, prompt) if initial_source else None
    passed, total = scores.get("tests_passed"), scores.get("tests_total")
    prompt_tokens, completion_tokens = _number(scores, "avg_prompt_tokens"), _number(scores, "avg_completion_tokens")
    if not prompt_tokens and not completion_tokens:  # BAML's averages of counts no server sent: unknown, not none
        prompt_tokens = completion_tokens = None
    return Candidate(
        int(data.get("id", 0)), int(data.get("iteration", 0)), str(data.get("method", "")),
        [int(p) for p in data.get("parent_ids") or []], redact(prompt), redact(source or function.get(
            "function_source") or ""), _number(scores, "test_pass_rate"),
        int(passed) if isinstance(passed, int) else None, int(total) if isinstance(total, int) else None,
        prompt_tokens, completion_tokens, _number(scores, "avg_latency_ms"),
        {"classes": function.get("classes") or [], "enums": function.get("enums") or []})


def frontier(candidates: list[Candidate], objectives: list[str]) -> list[int]:
    """The ids no other candidate beats on every objective (at least as good on all, better on one)."""
    scored = [c for c in candidates if c.pass_rate is not None]

    def better_or_equal(a: Candidate, b: Candidate, name: str) -> bool:
        x, y = a.score(name), b.score(name)
        if x is None or y is None:
            return True
        return x >= y if OBJECTIVES[name][1] else x <= y

    def dominates(a: Candidate, b: Candidate) -> bool:
        return all(better_or_equal(a, b, n) for n in objectives) and \
            any(not better_or_equal(b, a, n) for n in objectives)

    return [c.id for c in scored if not any(dominates(o, c) for o in scored if o is not c)]


@dataclass
class OptimizeResult:
    """An optimizer run: its candidates (``rows()``, ``to_pandas()``), frontier, diffs; ``apply(N)`` binds one."""

    folder: Path
    function: str
    objectives: list[str]
    candidates: list[Candidate] = field(default_factory=list)
    status: str = "running"  # running | done | cancelled | error
    iteration: str = ""  # the optimizer's own "i/N" while it runs
    budget: str = ""
    note: str = ""
    _apply: Callable[[OptimizeResult, Candidate, bool], Any] | None = field(default=None, repr=False)

    @classmethod
    def read(cls, folder: str | Path) -> OptimizeResult:
        """A run's artifacts as data (also after a restart): its run folder, or the folder holding it."""
        path = Path(folder).expanduser()
        if (path / "run" / "config.json").exists():
            path = path / "run"
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError):
            raise OptimizerError(f"{path} holds no optimizer run (no readable config.json)") from None
        objectives = [o.get("name", "") for o in config.get("objectives", [])] or ["accuracy"]
        result = cls(path, str(config.get("function_name", "")), [o for o in objectives if o in OBJECTIVES])
        result.refresh()
        result.status = "done" if (path / "final_results.json").exists() else "cancelled"
        return result

    @property
    def initial_source(self) -> str:
        try:
            data = json.loads((self.folder / "candidates" / "00_candidate.json").read_text())
        except (OSError, ValueError):
            return ""
        return str((data.get("function") or {}).get("function_source") or "")

    def refresh(self) -> None:
        """Read the candidates written so far, and how much of the budget they spent."""
        initial = self.initial_source
        found = [read_candidate(p, initial) for p in sorted((self.folder / "candidates").glob("*_candidate.json"))]
        self.candidates = sorted((c for c in found if c is not None), key=lambda c: c.id)
        try:
            limit = json.loads((self.folder / "config.json").read_text()).get("max_evals")
        except (OSError, ValueError):
            limit = None
        spent = sum(c.tests_total or 0 for c in self.candidates)
        self.budget = f"{spent}/{limit} evaluations" if isinstance(limit, int) else f"{spent} evaluations"

    @property
    def frontier(self) -> list[int]:
        """The Pareto frontier's candidate ids (the optimizer's own, once it has written it)."""
        try:
            written = json.loads((self.folder / "pareto_frontier.json").read_text())
            return [int(item["id"]) for item in written]
        except (OSError, ValueError, KeyError, TypeError):
            return frontier(self.candidates, self.objectives or ["accuracy"])

    @property
    def best(self) -> Candidate | None:
        """The frontier's candidate with the highest pass rate (the first found among equals)."""
        ids = self.frontier
        ranked = [c for c in self.candidates if c.id in ids]
        return max(ranked, key=lambda c: (c.pass_rate or 0.0, -c.id)) if ranked else None

    @property
    def best_new(self) -> Candidate | None:
        """The best candidate other than the function as it was (#0): the one worth a diff."""
        new = [c for c in self.candidates if c.id != 0]
        return max(new, key=lambda c: (c.pass_rate or 0.0, -c.id)) if new else None

    def candidate(self, n: int) -> Candidate:
        for c in self.candidates:
            if c.id == n:
                return c
        raise OptimizerError(f"no candidate {n}; this run has {', '.join(str(c.id) for c in self.candidates)}")

    def diff(self, n: int) -> str:
        """Candidate ``n``'s BAML against the function's own, as a unified diff."""
        new = self.candidate(n).source
        return "\n".join(difflib.unified_diff(self.initial_source.splitlines(), new.splitlines(),
                                              f"{self.function} (yours)", f"{self.function} #{n}", lineterm=""))

    def apply(self, n: int, *, write: bool = False) -> Any:
        """Bind candidate ``n`` in the session (its cell source shown, ready to paste); ``write=True`` also writes
        it into the loaded folder's file the function comes from."""
        if self._apply is None:
            raise OptimizerError("apply binds a candidate in a session: open this run with %baml optimize "
                                 f"{self.function or 'FUNCTION'} --open {self.folder}")
        return self._apply(self, self.candidate(n), write)

    def rows(self) -> list[dict[str, Any]]:
        ids = set(self.frontier)
        return [{**c.row(), "frontier": c.id in ids} for c in self.candidates]

    def to_pandas(self) -> Any:
        return to_pandas(self.rows())

    def line(self) -> str:
        best = self.best
        top = f" · best #{best.id} {best.pass_rate:.0%}" if best and best.pass_rate is not None else ""
        where = f" · iteration {self.iteration}" if self.iteration and self.status == "running" else ""
        return (f"optimize {self.function} · {len(self.candidates)} candidate{'s' if len(self.candidates) != 1 else ''}"
                f"{top} · frontier {self.frontier}{where}{(' · ' + self.budget) if self.budget else ''} · "
                f"{self.status}" + (f" · {self.note}" if self.note else ""))

    def table(self) -> Table:
        ids = set(self.frontier)
        rows = [[("★ " if c.id in ids else "") + f"#{c.id}", c.method, str(c.iteration),
                 "" if c.pass_rate is None else f"{c.pass_rate:.0%} ({c.tests_passed}/{c.tests_total})",
                 "not reported" if c.tokens is None else f"{c.tokens:.0f}",
                 "" if c.latency_ms is None else f"{c.latency_ms:.0f} ms", short(" ".join(c.prompt.split()), 70)]
                for c in self.candidates]
        return Table(["candidate", "method", "iteration", "accuracy", "tokens", "latency", "prompt"], rows,
                     "baml-magic-optimize", "no candidate scored yet", ["★ on the Pareto frontier"] if rows else ())

    def __repr__(self) -> str:
        new = self.best_new
        diff = f"\nthe best new candidate, #{new.id}, against yours:\n{self.diff(new.id)}" if new is not None else ""
        return f"{self.line()}\n{self.table()!r}{diff}"

    def _repr_html_(self) -> str:
        new = self.best_new
        diff = ""
        if new is not None:
            lines = "\n".join(diff_line_html(line) for line in self.diff(new.id).splitlines())
            diff = (f"<div>the best new candidate, #{new.id}, against yours:</div>"
                    f"<pre class='baml-magic-source-diff'>{lines}</pre>")
        return (f'<div class="baml-magic-optimize" data-status="{self.status}"><div style="font-family:monospace;'
                f'font-size:90%">{html.escape(self.line())}</div>{self.table()._repr_html_()}{diff}</div>')
