"""``%baml test``: the project's test blocks as a live grid (or BAML's own runner), compared against another
version of each function with ``--diff``, and a gate that fails the cell on a regression."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.display import display

from baml_magic._errors import RegressionError
from baml_magic.evaluation import run_cli_tests
from baml_magic.notebook import _evaluate as evaluate
from baml_magic.notebook._function import BamlFunction
from baml_magic.notebook._host import any_compiled
from baml_magic.notebook._runs_command import VERSION_REF

if TYPE_CHECKING:
    from baml_magic.notebook._host import Host


def _names_a_test(compiled: Any, text: str) -> bool:
    """Whether ``text`` is a test's name (or ``Function::Test``), not a version."""
    try:
        return bool(evaluate.test_grid_cases(compiled, [text]))
    except LookupError:
        return False


def baml_test_command(host: Host, options: argparse.Namespace) -> Any:
    """``host``: the ``BamlMagic`` whose session and project the tests run in."""
    session = host.session
    if options.last:
        if session.last_grid is None:
            raise UsageError("no %baml test has run in this session yet")
        return session.last_grid
    compiled = session.made_tests.joined(any_compiled(host))  # the tests made in the notebook run as written ones
    if options.cli:
        if options.diff is not None or options.fail_on_regression:
            raise UsageError("--diff and --fail-on-regression compare the grid's runs; BAML's runner (--cli) keeps "
                             "none")
        return run_cli_tests(compiled, options.patterns, session.client_override, host.display)
    patterns, ref = list(options.patterns), options.diff
    named = ref is not None and (ref in compiled.functions or _names_a_test(compiled, ref))
    if ref not in (None, "previous") and (named or not VERSION_REF.match(ref)):
        patterns.append(ref)  # `%baml test --diff Classify` (even `Facade`, all hex letters): a pattern
        ref = "previous"
    diff = ref is not None or options.fail_on_regression
    try:
        grid = evaluate.run_tests(
            session, compiled, lambda name: BamlFunction(compiled.functions[name], compiled, session),
            patterns, options.clients.split(","), repeat=options.repeat, concurrency=options.concurrency,
            diff=diff, against=None if ref in (None, "previous") else ref)
    except (LookupError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    regressions = grid.diff.regressions if options.fail_on_regression and grid.diff is not None else []
    if regressions:
        display(grid)  # the grid and its diff stay in the output above the error
        names = ", ".join(f"{c.row} [{c.client}]" for c in regressions[:5])
        more = f" and {len(regressions) - 5} more" if len(regressions) > 5 else ""
        against = ", ".join(sorted({f"{c.function} {c.against}" for c in regressions}))
        raise RegressionError(f"{len(regressions)} test{'s' if len(regressions) != 1 else ''} passed on {against} "
                              f"and fail{'s' if len(regressions) == 1 else ''} now: {names}{more}", regressions)
    return grid
