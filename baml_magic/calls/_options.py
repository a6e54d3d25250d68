"""A call's own options: another client, deadlines, a TypeBuilder, streaming, accepting an answer not whole,
and when to stop.

Checked when made (``Fn.with_options(...)``), before any work starts: a bad deadline is a ``TypeError`` or
``ValueError`` at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baml_magic.calls._checks import checked_timeout
from baml_magic.calls._stop_checks import STOP_ON_CHECKS


@dataclass(frozen=True)
class CallOptions:
    """Per-call settings: a client to use instead of the function's own, deadlines, a TypeBuilder, streaming."""

    client: str | None = None
    timeout: float | None = None
    idle_timeout: float | None = None  # the longest wait for the next token before the call ends as a stall
    tb: Any = None  # the generated TypeBuilder (for @@dynamic types), or None
    stream: bool | None = None  # whether Fn() streams; None: as the session says (BamlMagic.stream)
    allow_incomplete: bool | None = None  # accept a cut, filtered or refused answer; None: BamlMagic's setting
    stop_when: Callable[[Any], Any] | None = None  # sees each typed partial; true: the request is closed there
    # ("checks": when a @check fails on a complete field)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", checked_timeout(self.timeout))
        object.__setattr__(self, "idle_timeout", checked_timeout(self.idle_timeout, "idle_timeout"))
        for name in ("stream", "allow_incomplete"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r:.40}")
        if isinstance(self.stop_when, str):
            if self.stop_when != "checks":
                raise ValueError(f"stop_when takes a function of the partial or 'checks', got {self.stop_when!r:.40}")
            object.__setattr__(self, "stop_when", STOP_ON_CHECKS)
        if self.stop_when is not None and not callable(self.stop_when):
            raise TypeError(f"stop_when must be a function of the partial (lambda p: ...) or 'checks', "
                            f"got {self.stop_when!r:.40}")
