"""What the evaluation grid runs: a project's test blocks (``%baml test``) or ad-hoc inputs (``Fn.compare``).

Both end in ``run_grid`` with a start function that makes each call on the asked client; a
column named ``OWN`` uses each function's own client (or the session's override).
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from baml_magic._render import short
from baml_magic.calls import Run, checked_count, checked_names, summary
from baml_magic.engine import Compiled, FunctionSpec
from baml_magic.evaluation import Case, GridResult, Outcome, run_grid
from baml_magic.history import RunRecord, Version, diff_runs, from_outcome
from baml_magic.many import as_call
from baml_magic.notebook import _clients as clients
from baml_magic.notebook._session import Session
from baml_magic.sources import read_tests

OWN = "own client"


class Callee(Protocol):
    """What the grid calls: a bound BAML function (``BamlFunction``)."""

    spec: FunctionSpec
    compiled: Compiled
    __signature__: inspect.Signature

    @property
    def version(self) -> str: ...

    def with_options(self, *, client: str | None = None) -> Callee: ...

    def _open_run(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, foreground: bool = True,
                 stream: bool = True, kept: str | None = "call") -> Run: ...


def test_grid_cases(compiled: Compiled, patterns: list[str]) -> list[Case]:
    """A case per test block and function it tests, those matching any pattern (all when none).

    A pattern matches a function, a test, or ``Function::Test`` (shell-style wildcards allowed).
    """
    labels = {name: str(origin) for name, origin in (compiled.origins or {}).items()}
    cases = []
    matched: set[str] = set()
    for test in read_tests(compiled.files, compiled.origins, labels):
        for function in test.functions or ("?",):
            names = (function, test.name, f"{function}::{test.name}")
            hits = [p for p in patterns if any(fnmatch.fnmatchcase(n, p) for n in names)]
            if patterns and not hits:
                continue
            matched.update(hits)
            spec = compiled.functions.get(function)
            problem = test.problem or (None if spec is not None else f"no function {function} in the project")
            params = [p for p, _ in spec.params] if spec is not None else []
            args = {k: v for k, v in test.args.items() if k in params}  # BAML passes each function its own
            cases.append(Case(f"{function}::{test.name}", function, args, test.constraints, problem))
    unmatched = [p for p in patterns if p not in matched]
    if unmatched:
        raise LookupError(f"no test block matches {', '.join(unmatched)}")
    return cases


def checked_clients(names: Iterable[str], compiled: Compiled) -> list[str]:
    """Client columns, each validated by BAML (a project client or provider/model)."""
    out = []
    for name in names:
        name = name.strip()
        if name and name not in out:
            out.append(name if name == OWN else clients.validate(name, compiled))
    return out or [OWN]


def start_on(function_for: Callable[[str], Callee]) -> Callable[[Case, str], Run]:
    """The grid's start function: a call of the case's function on the column's client, answer in one piece."""
    functions: dict[tuple[str, str], Callee] = {}

    def start(case: Case, client: str) -> Run:
        fn = functions.get((case.function, client))
        if fn is None:
            fn = function_for(case.function)
            if client != OWN:
                fn = fn.with_options(client=client)
            functions[(case.function, client)] = fn
        return fn._open_run((), dict(case.args), foreground=True, stream=False, kept=None)  # the grid keeps it

    return start


Kept = list[tuple[str, str, RunRecord]]  # (row, column, record) of each call of a grid


def _keeper(session: Session, kind: str, function_for: Callable[[str], Callee], kept: Kept,
            ) -> Callable[[Case, Outcome, Run | None], None]:
    """What the grid tells of each call: kept in the run history (and in ``kept``, for the diff)."""
    versions: dict[str, str] = {}

    def keep(case: Case, outcome: Outcome, run: Run | None) -> None:
        if case.problem:  # a test that could not run (no such function) has no version
            return
        if case.function not in versions:
            versions[case.function] = function_for(case.function).version
        record = from_outcome(outcome, run, case.args, versions[case.function], kind)
        session.history.keep(record)
        kept.append((case.row, outcome.client, record))

    return keep


def against_versions(session: Session, functions: Iterable[str], function_for: Callable[[str], Callee],
                     ref: str | None) -> dict[str, Version | None]:
    """The version each function is compared against (``ref``: a number, ``v2`` or a hash prefix; None: the one
    run most recently before the current); checked before any call is made."""
    found = {f: session.history.resolve(f, ref, function_for(f).version) for f in dict.fromkeys(functions)}
    if ref is not None and found and not any(found.values()):
        known = "; ".join(f"{f}: " + (", ".join(session.history.label(f, v.hash)
                                                for v in session.history.versions_of(f)) or "none")
                          for f in found)
        raise LookupError(f"no version {ref} of {', '.join(found)} (versions kept: {known})")
    return found


def run_tests(session: Session, compiled: Compiled, function_for: Callable[[str], Callee], patterns: list[str],
              client_names: list[str], *, repeat: int, concurrency: int, diff: bool = False,
              against: str | None = None) -> GridResult:
    """``%baml test``: the matching test blocks x clients x repeats, as a live grid; with ``diff``, each cell
    against the version ``against`` (default: the previous) in ``grid.diff``."""
    _check_counts(repeat, concurrency)
    cases = test_grid_cases(compiled, patterns)
    if not cases:
        raise LookupError("the project has no BAML test blocks yet: add one in a %%baml cell (test Name { functions "
                          "[Fn] args { ... } }) or keep a good answer as one")
    runnable = [c.function for c in cases if not c.problem]
    compared = against_versions(session, runnable, function_for, against) if diff else {}
    columns = checked_clients(client_names, compiled)
    if columns == [OWN] and session.client_override:
        columns = [session.client_override]
    grid = GridResult("test", "BAML tests", [c.row for c in cases], columns, repeat)
    session.last_grid = grid
    settings = session.settings
    kept: Kept = []
    with session.tracing.group("baml.test", **{"baml.grid.rows": len(cases), "baml.grid.clients": columns,
                                                "baml.grid.repeat": repeat}):
        run_grid(grid, cases, start_on(function_for), concurrency=concurrency, display=settings.display,
                 refresh_hz=settings.refresh_hz, max_retry_wait=settings.max_retry_wait, cost_of=session.cost_of,
                 kept_in="%baml test --last", keep=_keeper(session, "test", function_for, kept))
    if diff:
        grid.diff = diff_runs("BAML tests", kept, session.history, compared.__getitem__, ("test",), own=OWN)
    return grid


def compare(fn: Callee, session: Session, inputs: Iterable[Any], client_names: Iterable[str], *,
            repeat: int, concurrency: int, against: str | int | None = None) -> GridResult:
    """``Fn.compare``: each input (a row) on each client (a column), ``repeat`` times; with ``against`` (a version,
    or ``"previous"``), each cell against that version's runs of the same input in ``grid.diff``."""
    fn.compiled.engine.require("compare")
    _check_counts(repeat, concurrency)
    if against is not None and not isinstance(against, (str, int)):
        raise TypeError(f"against: a version number, 'v2', a hash prefix or 'previous', not {against!r}")
    ref = None if against in (None, "previous") else str(against)
    compared = against_versions(session, [fn.spec.name], lambda _: fn, ref) if against is not None else {}
    client_names = checked_names(client_names, "clients")
    params = list(fn.__signature__.parameters)
    cases = []
    for index, item in enumerate(inputs):
        args, kwargs = as_call(item, params, index, fn.spec.name)
        bound = fn.__signature__.bind_partial(*args, **kwargs).arguments
        label = ", ".join(short(repr(v), 40) if len(bound) == 1 else f"{k}={short(repr(v), 30)}"
                          for k, v in summary(bound).items())
        cases.append(Case(f"{index + 1}. {label}", fn.spec.name, dict(bound)))
    if not cases:
        raise ValueError(f"{fn.spec.name}.compare: no inputs (give a list of inputs, as to map)")
    grid = GridResult("compare", f"{fn.spec.name}.compare", [c.row for c in cases],
                      checked_clients(client_names, fn.compiled), repeat)
    session.last_compare[fn.spec.name] = grid
    settings = session.settings
    kept: Kept = []
    with session.tracing.group(f"baml.compare {fn.spec.name}", **{"baml.function": fn.spec.name,
                                                                   "baml.grid.clients": grid.clients}):
        run_grid(grid, cases, start_on(lambda _: fn), concurrency=concurrency, display=settings.display,
                 refresh_hz=settings.refresh_hz, max_retry_wait=settings.max_retry_wait, cost_of=session.cost_of,
                 kept_in=f"{fn.spec.name}.last_compare", keep=_keeper(session, "compare", lambda _: fn, kept))
    if against is not None:
        grid.diff = diff_runs(f"{fn.spec.name}.compare", kept, session.history, compared.__getitem__, None, own=OWN)
    return grid


def _check_counts(repeat: int, concurrency: int) -> None:
    checked_count(repeat, "repeat")
    checked_count(concurrency, "concurrency")
