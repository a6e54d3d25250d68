"""Fn.start: a call in the background, so the cell finishes and the kernel stays free.

Its view has a Stop button. Frontend events (the click) reach the kernel only while it is
idle, which is exactly when a background run needs them; the live driver redraws the view.
"""

from __future__ import annotations

from typing import Any

from baml_magic._errors import argument_errors, interrupted
from baml_magic._types import Status
from baml_magic.calls import Run, checked_wait
from baml_magic.views._live import Live
from baml_magic.views._views import View


class Background:
    """A running call: ``cancel()``, ``result(timeout=None)``, ``done``, ``partial``, and a live view."""

    def __init__(self, run: Run, view: View, live: Live) -> None:
        self.run = run
        self.view = view
        self.live = live

    def cancel(self) -> None:
        """Abort the request now (the HTTP connection closes); the partial is kept."""
        self.run.cancel()
        self.run.settle()

    @argument_errors
    def result(self, timeout: float | None = None) -> Any:
        """The final value, waiting up to ``timeout`` seconds; raises the call's error.

        An interrupt while waiting leaves the call running: cancel it with ``cancel()``.
        """
        timeout = checked_wait(timeout)
        try:
            return self.run.result(timeout)
        except KeyboardInterrupt:
            raise interrupted(f"waiting for {self.run.function}", "it is still running; .cancel() stops it") \
                from None
        finally:
            self.live.finish_if_ended()  # the view's final frame is out before result() returns

    def wait_view(self, timeout: float = 5.0) -> None:
        """Wait until the view has drawn the end state (tests, scripts)."""
        self.live.join(timeout)

    @property
    def done(self) -> bool:
        """Whether the call has ended (done, cancelled or failed)."""
        return self.run.done

    @property
    def partial(self) -> Any:
        """The latest typed partial (the value, once done)."""
        return self.run.partial

    @property
    def status(self) -> Status:
        """``pending``, ``streaming``, ``done``, ``cancelled`` or ``error``."""
        return self.run.status

    def __repr__(self) -> str:
        return f"<Background {self.run.function} {self.run.status} {self.run.elapsed:.2f}s>"
