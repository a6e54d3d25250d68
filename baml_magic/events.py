"""Hooks for telemetry: functions called on every call's start, partial, finish and error.

    import baml_magic.events

    def log(event):
        print(event.kind, event.function, event.usage, event.elapsed)

    baml_magic.events.register(log)

A hook must be quick: ``partial`` events come from the worker thread while tokens stream.
A hook that raises is reported once as a warning and does not stop the call.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
_hooks: list[Hook] = []
_lock = threading.Lock()
_warned: set[int] = set()


def register(hook: Hook) -> Hook:
    """Call ``hook(event)`` for every call of this process; returns the hook (usable as a decorator)."""
    with _lock:
        if hook not in _hooks:
            _hooks.append(hook)
    return hook


def unregister(hook: Hook) -> None:
    with _lock:
        if hook in _hooks:
            _hooks.remove(hook)


def active() -> bool:
    """Whether any hook is registered (so callers can skip building events nobody reads)."""
    return bool(_hooks)


def emit(event: Event) -> None:
    with _lock:
        hooks = list(_hooks)
    for hook in hooks:
        try:
            hook(event)
        except Exception as exc:  # noqa: BLE001 - a broken hook must not break the call
            if id(hook) not in _warned:
                _warned.add(id(hook))
                warnings.warn(f"baml_magic event hook {hook!r} raised {exc!r}", RuntimeWarning, stacklevel=2)
