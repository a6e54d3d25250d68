"""Hooks for telemetry: functions called on every call's start, partial, finish and error.

    import baml_magic.events

    def log(event):
        print(event.kind, event.function, event.usage, event.elapsed)

    baml_magic.events.register(log)

A hook must be quick: ``partial`` events come from the worker thread while tokens stream.
A hook that raises is reported once as a warning and does not stop the call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baml_magic._listeners import Listeners
from baml_magic._types import Status, Usage

KINDS = ("start", "partial", "finish", "error")


@dataclass(frozen=True)
class Event:
    """What a hook receives."""

    kind: str  # start | partial | finish | error
    function: str
    args: dict[str, Any]
    client: str | None
    status: Status
    partial: Any
    value: Any
    error: BaseException | None
    usage: Usage
    elapsed: float
    time_to_first_token: float | None


Hook = Callable[[Event], None]
_warned: set[int] = set()


def _warn_once(hook: Hook, exc: Exception) -> None:
    if id(hook) not in _warned:
        _warned.add(id(hook))
        warnings.warn(f"baml_magic event hook {hook!r} raised {exc!r}", RuntimeWarning, stacklevel=3)


_hooks: Listeners[Event] = Listeners(_warn_once)


def register(hook: Hook) -> Hook:
    """Call ``hook(event)`` for every call of this process; returns the hook (usable as a decorator)."""
    _hooks.add(hook)
    return hook


def unregister(hook: Hook) -> None:
    _hooks.remove(hook)


def active() -> bool:
    """Whether any hook is registered (so callers can skip building events nobody reads)."""
    return bool(_hooks)


def emit(event: Event) -> None:
    """Tell every hook (a hook that raises is warned about once and does not stop the call)."""
    _hooks.tell(event)
