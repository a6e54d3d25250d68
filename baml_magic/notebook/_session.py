"""What one notebook session shares: its project, settings, runs in flight and past runs."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from baml_magic.calls import ResponseCache, Run
from baml_magic.engine import Project, kinds
from baml_magic.evaluation import TestSet
from baml_magic.history import RunHistory, from_run
from baml_magic.many import MapResult, RemoteRun
from baml_magic.observe import Ledger, Tracing, cost, price_for


class Settings(Protocol):
    """What calls read from the configuration (BamlMagic's traitlets)."""

    refresh_hz: float
    display: str
    stream: bool
    plain_requests: bool
    allow_incomplete: bool
    max_retry_wait: float
    history: int
    runs_kept: int
    prices: dict[str, Any]


@dataclass
class DefaultSettings:
    refresh_hz: float = 20.0
    display: str = "auto"
    stream: bool = True
    plain_requests: bool = False
    allow_incomplete: bool = False
    max_retry_wait: float = 60.0
    history: int = 1000
    runs_kept: int = 10_000
    prices: dict[str, Any] = field(default_factory=dict)


def _no_playground(name: str, stop_when: Any = None) -> Any:
    raise RuntimeError("the playground needs the extension: %load_ext baml_magic")


def _no_optimizer(*args: Any) -> Any:
    raise RuntimeError("the optimizer needs the extension: %load_ext baml_magic")


@dataclass
class Session:
    """The project, the settings, and the calls of this session."""

    settings: Settings = field(default_factory=DefaultSettings)
    projects: dict[str, Project] = field(default_factory=kinds.projects)  # one per engine kind, by name
    client_override: str | None = None
    runs: deque[Run] = field(default_factory=deque)  # the last ``settings.history`` calls
    ledger: Ledger = field(default_factory=Ledger)  # totals of every call
    last: dict[str, Run] = field(default_factory=dict)
    last_map: dict[str, MapResult] = field(default_factory=dict)
    foreground: set[Run] = field(default_factory=set)
    open_playground: Callable[[str, Any], Any] = _no_playground  # set by the extension (it knows the bound names)
    optimize: Callable[..., Any] = _no_optimizer  # set by the extension (apply rebinds through it)
    restore: Callable[..., Any] = _no_optimizer  # set by the extension: Fn.restore rebinds a kept version
    last_optimize: dict[str, Any] = field(default_factory=dict)  # each function's last optimizer run
    cache: ResponseCache = field(default_factory=ResponseCache)
    last_grid: Any = None  # the last %baml test grid (a GridResult)
    last_compare: dict[str, Any] = field(default_factory=dict)  # each function's last compare (a GridResult)
    tracing: Tracing = field(default_factory=Tracing)  # OpenTelemetry spans, when switched on
    history: RunHistory = field(default_factory=RunHistory)  # runs kept by version (Fn.history, %baml runs)
    made_tests: TestSet = field(default_factory=TestSet)  # tests made from answers (Fn.last.to_test, Fn.tests_from)

    @classmethod
    def create(cls, settings: Settings, cache_dir: Path | None = None) -> Session:
        return cls(settings=settings, projects=kinds.projects(cache_dir), history=RunHistory(settings.runs_kept))

    @property
    def project(self) -> Project:
        """The default engine's project (where a cell without ``--engine`` goes)."""
        return self.projects[kinds.DEFAULT]

    def project_of(self, kind: str | None) -> Project:
        """The project of an engine kind by name (None: the default)."""
        return self.projects[kind or kinds.DEFAULT]

    def record(self, run: Run, foreground: bool = True, *, kept: str | None = None, version: str = "") -> None:
        """A call begins: it is ``Fn.last``, counted in usage, traced; ``kept``: what the run history keeps it
        as when it ends (``version``: its function's)."""
        self.runs.append(run)
        run.priced_by = self.cost_of
        while len(self.runs) > max(1, self.settings.history):
            self.runs.popleft()
        previous = self.last.get(run.function)
        if previous is not None and previous.done:  # only Fn.last keeps its whole log
            previous.compact()
        elif previous is not None:
            previous.listeners.append(Run.compact)
        self.last[run.function] = run
        if self.tracing.enabled:
            self.tracing.follow(run, self.cost_of)
        run.listeners.append(lambda ended: self.ledger.add(
            ended, self.cost_of(ended), self.cost_of(ended, saved=True) if ended.cached is not None else None))
        if kept is not None and self.history.limit > 0:
            run.listeners.append(lambda ended: self.history.later(
                lambda: from_run(ended, version, kept, self.cost_of(ended))))
        if foreground:
            self.foreground.add(run)
            run.listeners.append(self.foreground.discard)

    def cost_of(self, run: Run | RemoteRun, *, saved: bool = False) -> float | None:
        """What a call cost (or, with ``saved``, what its replay did not cost again), when its model has a price."""
        return cost(run.saved if saved else run.usage, price_for(run.model, self.settings.prices))

    def cancel_foreground(self) -> None:
        """Abort calls the cell left running when it was interrupted (e.g. inside an await)."""
        for run in list(self.foreground):
            run.cancel()
            run.settle()
        self.foreground.clear()
