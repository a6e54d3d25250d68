"""Fn.start: a call in the background, so the cell finishes and the kernel stays free.

Its view has a Stop button. Frontend events (the click) reach the kernel only while it is
idle, which is exactly when a background run needs them. A small thread per run redraws
the view; widget values may be set from any thread (no ``with output:`` is used).
"""

from __future__ import annotations

import threading
from typing import Any

from baml_magic.display import NullView, View, WidgetView, wants_widgets
from baml_magic.run import Run


class Background:
    """A running call: ``cancel()``, ``result(timeout=None)``, ``done``, ``partial``, and a live view."""

    def __init__(self, run: Run, mode: str, interval: float) -> None:
        self.run = run
        self.view: View = (WidgetView(run, stop=self.cancel) if wants_widgets(mode)
                           else NullView())
        self._painter = threading.Thread(target=self._paint, args=(interval,),
                                         name=f"baml_magic-view-{run.function}", daemon=True)
        self._painter.start()

    def _paint(self, interval: float) -> None:
        for _ in self.run.updates(interval):
            self.view.update(self.run)
        self.view.finish(self.run)

    def cancel(self) -> None:
        """Abort the request now (the HTTP connection closes); the partial is kept."""
        self.run.cancel()
        self.run.settle()

    def result(self, timeout: float | None = None) -> Any:
        """The final value, waiting up to ``timeout`` seconds; raises the call's error."""
        return self.run.result(timeout)

    def wait_view(self, timeout: float = 5.0) -> None:
        """Wait until the view has drawn the end state (tests, scripts)."""
        self._painter.join(timeout)

    @property
    def done(self) -> bool:
        return self.run.done

    @property
    def partial(self) -> Any:
        return self.run.partial

    @property
    def status(self) -> str:
        return self.run.status

    def __repr__(self) -> str:
        return f"<Background {self.run.function} {self.run.status} {self.run.elapsed:.2f}s>"
