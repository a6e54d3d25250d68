"""The evaluation grid: cases (test blocks or ad-hoc inputs) x clients x repeats, run concurrently.

The calls go through ``Fn.map``'s engine (bounded concurrency, Retry-After, an interrupt that
aborts every request in flight and keeps what finished). Each call that ends becomes an
Outcome: BAML's verdict for a test block, the value for an ad-hoc input. The view
(``_grid_view``) is redrawn by the live driver while the grid fills; the GridResult is the data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baml_py.errors import BamlValidationError

from baml_magic._errors import interrupted, short_error
from baml_magic._redact import redact
from baml_magic._types import Status, Verdict
from baml_magic.calls import Run
from baml_magic.evaluation._grid_result import Case, GridResult, Outcome
from baml_magic.evaluation._grid_view import GridView
from baml_magic.evaluation._verdict import field_checks, judge
from baml_magic.many import MapResult, run_map
from baml_magic.views import Live

__all__ = ["Case", "GridResult", "Outcome", "run_grid"]


def _local(state: MapResult, index: int) -> Run | None:
    """A grid's call (a grid runs in this kernel: its slots hold local runs)."""
    run = state.runs[index]
    return run if isinstance(run, Run) else None


def _outcome(kind: str, case: Case, client: str, repeat: int, state: MapResult, index: int,
             cost_of: Callable[[Run], float | None]) -> Outcome:
    run = _local(state, index)
    status = state.states[index]
    result = state.results[index]
    out = Outcome(case.row, case.function, client, repeat, Verdict.ERROR)
    if run is not None:
        usage = run.usage
        out.latency, out.tokens_in, out.tokens_out = run.elapsed, usage.input_tokens, usage.output_tokens
        out.cost, out.cached = cost_of(run), run.cached is not None
    if status is Status.CANCELLED:
        out.verdict, out.reason = Verdict.CANCELLED, "cancelled"
    elif status is Status.DONE:
        out.value = result
        if kind == "test":
            verdict = judge(result, case.args, round((out.latency or 0) * 1000), case.constraints)
            out.verdict, out.reason, out.checks = (Verdict.PASS if verdict.passed else Verdict.FAIL), verdict.reason, \
                verdict.checks
        else:
            out.verdict, out.checks = Verdict.DONE, field_checks(result)
    else:
        error = result if isinstance(result, BaseException) else None
        out.verdict = Verdict.FAIL if isinstance(error, BamlValidationError) else Verdict.ERROR
        out.reason = redact(short_error(error).splitlines()[0][:200]) if error is not None else "error"
    return out


def run_grid(grid: GridResult, cases: list[Case], start: Callable[[Case, str], Run], *, concurrency: int,
             display: str, refresh_hz: float, max_retry_wait: float, cost_of: Callable[[Run], float | None],
             kept_in: str, keep: Callable[[Case, Outcome, Run | None], None] | None = None) -> None:
    """Run every case on every client ``grid.repeat`` times, filling ``grid`` as calls end.

    An interrupt aborts every call in flight; what finished stays in ``grid`` (``kept_in`` says where).
    ``keep`` is told of every outcome with its case and call (the run history keeps it).
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
                outcome = _outcome(grid.kind, case, client, repeat, state, index, cost_of)
                grid.outcomes.append(outcome)
                if keep is not None:
                    keep(case, outcome, _local(state, index))
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
