"""What one notebook session shares: its project, settings, runs in flight and past runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from baml_magic.project import Project
from baml_magic.run import Run


class Settings(Protocol):
    """What calls read from the configuration (BamlMagic's traitlets)."""

    refresh_hz: float
    display: str


@dataclass
class DefaultSettings:
    refresh_hz: float = 20.0
    display: str = "auto"


@dataclass
class Session:
    """The project, the settings, and the calls of this session."""

    settings: Settings = field(default_factory=DefaultSettings)
    project: Project = field(default_factory=Project)
    client_override: str | None = None
    runs: list[Run] = field(default_factory=list)
    last: dict[str, Run] = field(default_factory=dict)
    last_map: dict[str, Any] = field(default_factory=dict)
    bound: dict[str, Any] = field(default_factory=dict)  # name -> the BamlFunction bound now
    foreground: set[Run] = field(default_factory=set)

    @classmethod
    def create(cls, settings: Settings, cache_dir: Path | None = None) -> Session:
        return cls(settings=settings, project=Project(cache_dir))

    @property
    def refresh_interval(self) -> float:
        """Seconds between redraws of a live view (``BamlMagic.refresh_hz``, at least 1 Hz)."""
        return 1.0 / max(1.0, float(self.settings.refresh_hz))

    def record(self, run: Run, foreground: bool = True) -> None:
        self.runs.append(run)
        self.last[run.function] = run
        if foreground:
            self.foreground.add(run)
            run.listeners.append(self.foreground.discard)

    def cancel_foreground(self) -> None:
        """Abort calls the cell left running when it was interrupted (e.g. inside an await)."""
        for run in list(self.foreground):
            run.cancel()
            run.settle()
        self.foreground.clear()
