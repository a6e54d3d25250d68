"""``%baml optimize`` and ``Fn.optimize``: BAML's optimizer live in the cell, its candidates kept as versions,
and ``result.apply(N)`` binding one in the session."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baml_magic._errors import interrupted
from baml_magic.calls import checked_folder
from baml_magic.engine import default_cache_dir, writable_cache_dir
from baml_magic.history import RunRecord
from baml_magic.notebook import _clients as clients
from baml_magic.notebook._evaluate import test_grid_cases
from baml_magic.notebook._function import BamlFunction
from baml_magic.notebook._rebind import rebind
from baml_magic.notebook._session import Session
from baml_magic.optimize import (
    Budget,
    Candidate,
    OptimizerError,
    OptimizeResult,
    OptimizeView,
    prepare_folder,
    run_optimizer,
)
from baml_magic.sources import split_blocks, with_prompt

if TYPE_CHECKING:
    from baml_magic.notebook._host import Host


def run_folder(base: str | Path | None, function: str) -> Path:
    """Where a run's artifacts go: ``base`` (the user's choice), else the session's cache folder."""
    root = Path(base).expanduser() if base else writable_cache_dir(default_cache_dir()) / "optimize"
    folder = root / f"{function}-{time.strftime('%Y%m%d-%H%M%S')}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = root / f"{function}-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
    folder.mkdir(parents=True)
    return folder


def optimize(fn: BamlFunction, session: Session, host: Host, *, budget: Budget,
             reflection: str | None = None, folder: str | Path | None = None) -> OptimizeResult:
    """Run BAML's optimizer on ``fn`` and its test blocks; the result is also ``fn.last_optimize``."""
    name = fn.spec.name
    compiled = session.made_tests.joined(fn.compiled, [name])  # its tests made in the notebook, as BAML's own
    compiled.engine.require("optimize")
    try:
        budget.arguments()
        folder = checked_folder(folder, "--folder")
    except (TypeError, ValueError) as exc:
        raise OptimizerError(str(exc)) from None
    # A test named alone is this function's (BAML's --test reads "Function::Test", wildcards allowed).
    budget = dataclasses.replace(budget, tests=tuple(t if "::" in t else f"{name}::{t}" for t in budget.tests))
    try:
        test_grid_cases(compiled, list(budget.tests) or [name])
    except LookupError:
        matching = f" matches {', '.join(t.split('::', 1)[1] for t in budget.tests)}" if budget.tests else \
            " to score prompts with"
        raise OptimizerError(f"no test block of {name}{matching}: the optimizer scores each prompt on the "
                             "function's test blocks (args and @@assert)") from None
    note = ""
    if reflection is None:
        reflection = fn.client_in_force or ""
        note = f"the reflection model is {name}'s own client {reflection} (--reflection CLIENT names another)"
    else:
        reflection = clients.validate(reflection, compiled)
    where = run_folder(folder, name)
    result = OptimizeResult(where / "run", name, budget.objectives(), note=note)
    result._apply = applier(host)
    session.last_optimize[name] = result
    try:
        src = prepare_folder(where, compiled, session.client_override, reflection)
    except KeyboardInterrupt:
        result.status = "cancelled"
        raise interrupted(f"setting up BAML's optimizer for {name}", "nothing was optimized; the function is as it "
                                                                    "was") from None
    except OSError as exc:
        result.status = "error"
        raise OptimizerError(f"can't write the optimizer's folder {where} ({exc.strerror or exc}); give another "
                             "with --folder") from None
    except BaseException:
        result.status = "error"
        raise
    view = OptimizeView(result, session.settings.display)
    live = view.live(lambda: result.status != "running", session.settings.refresh_hz)
    try:
        run_optimizer(where, src, name, budget, result)
    except KeyboardInterrupt:
        raise interrupted(f"optimizing {name}", f"the candidates found so far are in {name}.last_optimize "
                                                f"(and in {result.folder})") from None
    finally:
        live.stop()
        result.refresh()
        keep_candidates(fn, session, result)
    return result


def keep_candidates(fn: BamlFunction, session: Session, result: OptimizeResult) -> None:
    """Every candidate a version of the function in the run history, with its scores as an ``optimize`` run."""
    for candidate in result.candidates:
        spec = fn.spec if candidate.source == result.initial_source else \
            dataclasses.replace(fn.spec, source=candidate.source)
        version = session.history.version(spec, fn.compiled.clients)
        scores = {"candidate": candidate.id, "pass_rate": candidate.pass_rate, "method": candidate.method}
        record = RunRecord(fn.spec.name, version, "optimize", fn.client_in_force,
                           {"tests": candidate.tests_total, "run": str(result.folder)}, value=scores,
                           tokens_in=_int(candidate.prompt_tokens), tokens_out=_int(candidate.completion_tokens),
                           latency=None if candidate.latency_ms is None else candidate.latency_ms / 1000,
                           id=f"{result.folder}#{candidate.id}")
        session.history.keep(record)


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def applier(host: Host) -> Any:
    """``result.apply(N)``: the candidate's prompt in the function's source, compiled and bound in the session."""
    def apply(result: OptimizeResult, candidate: Candidate, write: bool) -> BamlFunction:
        def change(text: str) -> str:
            block = next((b for b in split_blocks(text) if b.kind == "function"
                          and b.name == result.function), None)
            new_block = with_prompt(text[block.start:block.end], candidate.prompt) if block is not None else None
            if block is None or new_block is None:
                raise OptimizerError(f"can't find {result.function}'s prompt in its source to replace it")
            return text[:block.start] + new_block + text[block.end:]

        return rebind(host, result.function, change, write=write, what=f"candidate #{candidate.id}",
                      error=OptimizerError)

    return apply


def open_run(host: Host, folder: str) -> OptimizeResult:
    """``%baml optimize FN --open FOLDER``: an earlier run's result (after a restart), ready to apply."""
    result = OptimizeResult.read(folder)
    result._apply = applier(host)
    fn = host.bound.get(result.function)
    if fn is not None:  # its candidates become versions of the function again, as when it ran
        keep_candidates(fn, host.session, result)
    return result


def optimize_command(host: Host, options: Any) -> OptimizeResult:
    """``%baml optimize FUNCTION [...]``."""
    if options.open:
        return open_run(host, options.open)
    fn = host.bound.get(options.function) if options.function else None
    if fn is None:
        raise OptimizerError(f"no bound function {options.function}; bound: {', '.join(sorted(host.bound)) or 'none'}")
    budget = Budget(options.trials, options.max_evals, options.auto, options.weight, tuple(options.tests))
    return optimize(fn, host.session, host, budget=budget, reflection=options.reflection, folder=options.folder)
