"""The one live-view driver: a refresh thread that redraws a view while its source has news.

In the manner of rich's ``Live``: ``start()`` begins refreshing at ``refresh_hz``, ``stop()``
(or the source finishing) ends it with one final frame. Calls, background runs, the playground
and maps all redraw through it; the things they show only publish news.

Widget values may be set from any thread. What the thread displays is routed by the kernel like any
thread's output (to the cell running then); display updates find their output by display id, so a
background view ends as its static frame even after its cell has finished.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from types import TracebackType

HEARTBEAT_SECONDS = 0.5  # redraw at least this often, so elapsed times keep moving


class Live:
    """Redraw ``draw()`` on news, at most ``refresh_hz`` times a second, then ``final()`` once."""

    def __init__(self, draw: Callable[[], None], *, final: Callable[[], None], finished: Callable[[], bool],
                 refresh_hz: float, news: Callable[[int, float], int] | None = None, name: str = "live") -> None:
        self._draw = draw
        self._final = final
        self._finished = finished
        self._news = news  # news(seen, timeout) -> version; None: redraw on every tick
        self.interval = 1.0 / max(1.0, refresh_hz)
        self._stop = threading.Event()
        self._final_lock = threading.Lock()
        self._final_drawn = False
        self._thread = threading.Thread(target=self._loop, name=f"baml_magic-{name}", daemon=True)

    def start(self) -> Live:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop refreshing and draw the final frame (once, whoever gets there first)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._finish()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the source has finished and the final frame is drawn."""
        self._thread.join(timeout)

    def __enter__(self) -> Live:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def _loop(self) -> None:
        seen = -1
        drawn = 0.0
        try:
            while not self._stop.is_set() and not self._finished():
                if self._news is not None:
                    version = self._news(seen, self.interval)
                else:
                    self._stop.wait(self.interval)
                    version = seen + 1
                now = time.monotonic()
                if version != seen or now - drawn >= HEARTBEAT_SECONDS:
                    seen = version
                    self._safely(self._draw)
                    drawn = time.monotonic()
                    self._stop.wait(max(0.0, self.interval - (drawn - now)))  # at most refresh_hz redraws
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._final_lock:
            if self._final_drawn:
                return
            self._final_drawn = True
        self._safely(self._final)

    @staticmethod
    def _safely(step: Callable[[], None]) -> None:
        # A view that fails to redraw (a widget closed by the frontend) must not end the call it shows.
        with contextlib.suppress(Exception):
            step()
