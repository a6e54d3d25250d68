"""The one way the package keeps listeners: a list behind a lock, told in order, a listener's failure its own.

``events`` keeps the public telemetry hooks in one; ``_call_hooks`` keeps the test double's in another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Listeners(Generic[T]):
    """Callables of one kind of news; ``failed(listener, exc)`` hears a listener that raised (default: nothing)."""

    def __init__(self, failed: Callable[[Callable[[T], None], Exception], None] | None = None) -> None:
        self._listeners: list[Callable[[T], None]] = []
        self._lock = threading.Lock()
        self._failed = failed

    def add(self, listener: Callable[[T], None]) -> None:
        """Hear the news from now on (once, however often it is added)."""
        with self._lock:
            if listener not in self._listeners:
                self._listeners.append(listener)

    def remove(self, listener: Callable[[T], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def __bool__(self) -> bool:
        """Whether anything listens (callers skip building news nobody reads)."""
        return bool(self._listeners)

    def tell(self, news: T) -> None:
        """Tell every listener; one that raises never stops the others, nor the call."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(news)
            except Exception as exc:  # noqa: BLE001 - a listener's trouble is its own
                if self._failed is not None:
                    self._failed(listener, exc)
