"""What a bound function offers for evaluating its prompt: compare clients and versions, its history of runs
by version, BAML's optimizer, BAML tests made from a table (a part of ``BamlFunction``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from baml_magic._errors import argument_errors
from baml_magic.calls import checked_folder, checked_names, checked_version
from baml_magic.engine import Compiled, FunctionSpec
from baml_magic.evaluation import GridResult, MadeTests
from baml_magic.history import Runs
from baml_magic.notebook import _evaluate as evaluate
from baml_magic.notebook import _tests_made as made
from baml_magic.notebook._session import Session
from baml_magic.optimize import Budget, OptimizeResult


class Evaluating:
    """``compare``, ``version``, ``history``, ``optimize`` and ``tests_from`` of a ``BamlFunction``."""

    spec: FunctionSpec
    compiled: Compiled
    _session: Session
    _version: str | None

    @argument_errors
    def compare(self, inputs: Iterable[Any], clients: Iterable[str] = (), *, repeat: int = 1,
                concurrency: int = 8, against: str | int | None = None) -> GridResult:
        """Each input (a row) on each client (a column), ``repeat`` times, as a live grid.

        Each cell shows the typed answer (fields that differ across clients marked), latency,
        tokens, cost when the model has a price, and the function's own checks. An input is
        what ``map`` takes. ``against``: a version of this function (its number, ``"v2"``, or a
        hash prefix; ``"previous"`` for the one run before this): each cell then also says how the
        answer moved since that version's run of the same input (``result.diff``). The result stays
        in ``Fn.last_compare``.
        """
        return evaluate.compare(cast(evaluate.Callee, self), self._session, inputs, clients, repeat=repeat,
                                concurrency=concurrency, against=checked_version(against))

    @argument_errors
    def optimize(self, *, tests: Iterable[str] = (), auto: str | None = None, trials: int | None = None,
                 max_evals: int | None = None, weights: str | None = None, reflection: str | None = None,
                 folder: str | None = None) -> OptimizeResult:
        """BAML's prompt optimizer (``baml-cli optimize``, GEPA) on this function and its test blocks, live in the
        cell: each candidate scored (accuracy, tokens, latency), the Pareto frontier. ``reflection``: the client
        that proposes prompts (default: this function's own); ``folder``: where the artifacts go. The result is
        data (``rows()``, ``diff(N)``) and ``result.apply(N)`` binds a candidate; kept in ``last_optimize``."""
        if weights is not None and not isinstance(weights, str):
            raise TypeError(f"weights must be text such as 'accuracy=0.8,tokens=0.2', got {weights!r:.40}")
        folder = checked_folder(folder)
        budget = Budget(trials, max_evals, auto, weights, tuple(checked_names(tests, "tests")))
        result: OptimizeResult = self._session.optimize(self, budget, reflection, folder)
        return result

    @argument_errors
    def restore(self, version: str | int, *, write: bool = False) -> Any:
        """Bind a kept version of this function again (a number, ``"v2"`` or a hash prefix, as ``%baml diff``
        names them): its BAML replaces the current in the session, and its runs are this function's again. A
        cell's new source is printed, ready to paste; a loaded folder's file is written only with ``write=True``."""
        return self._session.restore(self, checked_version(version, "version"), write)

    @property
    def last_optimize(self) -> OptimizeResult | None:
        """This function's last optimizer run (also one interrupted: what it found so far)."""
        found: OptimizeResult | None = self._session.last_optimize.get(self.spec.name)
        return found

    @property
    def version(self) -> str:
        """This function's version: a hash of its BAML and its client's (an edited prompt is a new one)."""
        if self._version is None:
            self._version = self._session.history.version(self.spec, self.compiled.clients)
        return self._version

    @property
    def history(self) -> Runs:
        """This function's kept runs across versions, newest first (``rows()``, ``to_pandas()``)."""
        return Runs(self._session.history, self.spec.name)

    @property
    def last_compare(self) -> GridResult | None:
        """The last compare of this function (a GridResult)."""
        return self._session.last_compare.get(self.spec.name)

    @argument_errors
    def tests_from(self, rows: Any, *, inputs: Any = None, expect: Any = None, name: str | None = None,
                   ) -> MadeTests:
        """A BAML test per row of a table (a DataFrame, a list of dicts, a .csv, .jsonl or .parquet file), in the
        session's project at once: ``inputs`` maps parameters to columns (default: the columns named as them),
        ``expect`` the answer's fields to columns (default: the columns named as fields), ``name`` is a column of
        test names or a prefix."""
        return made.from_rows(self._maker(), rows, inputs=inputs, expect=expect, name=name)

    def _maker(self) -> made.Maker:
        return made.Maker(self.spec, self.compiled, self._session.made_tests)
