"""The one live-view driver: views redrawn while their source has news, then one final static frame.

In the manner of rich's ``Live``: ``start()`` begins refreshing at ``refresh_hz``, ``stop()`` (or the
source finishing) ends it with its final frame. Calls, background runs, the playground and maps all
redraw through it; the things they show only publish news.

Every view of the process is redrawn by one long-lived thread. A thread per view would cost more
than its start-up: ipykernel gives every thread that publishes output a socket of its own and keeps
it, about 24 KiB a thread, so a view per call grew a kernel by that much per call. Redraws take at most
a twenty-fifth of the time: a view that takes longer to draw (a long answer) is drawn less often.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
import weakref
from collections.abc import Callable
from types import TracebackType

HEARTBEAT_SECONDS = 0.5  # redraw at least this often, so elapsed times keep moving
DUTY = 25  # wait at least this many times a redraw's own duration before the next one (<= 4 % of the time)


class Live:
    """Redraw ``draw()`` on news, at most ``refresh_hz`` times a second, then ``final()`` once."""

    def __init__(self, draw: Callable[[], None], *, final: Callable[[], None], finished: Callable[[], bool],
                 refresh_hz: float, news: Callable[[], int] | None = None, name: str = "live") -> None:
        self._draw = draw
        self._final = final
        self._finished = finished
        self._news = news  # the source's version now; None: redraw on every tick
        self.name = name
        self.interval = 1.0 / max(1.0, refresh_hz)
        self._wait = self.interval
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._stopped = False
        self._seen = -1
        self._drawn = 0.0

    def start(self) -> Live:
        _active.add(self)
        _scheduler().add(self, time.monotonic() + self.interval)
        return self

    def stop(self) -> None:
        """Stop refreshing and draw the final frame (once, whoever gets there first)."""
        with self._lock:
            self._stopped = True
        self._finish()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the source has finished and the final frame is drawn."""
        self._done.wait(timeout)

    def __enter__(self) -> Live:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def tick(self) -> float | None:
        """One turn of the refresh: draw if there is news; the time of the next turn, or None when ended."""
        with self._lock:
            if self._done.is_set() or self._stopped:
                return None
            if self._finished():
                self._finish()
                return None
            version = self._news() if self._news is not None else self._seen + 1
            now = time.monotonic()
            if version != self._seen or now - self._drawn >= HEARTBEAT_SECONDS:
                self._seen = version
                _safely(self._draw)
                self._drawn = time.monotonic()
                self._wait = max(self.interval, (self._drawn - now) * DUTY)
            return time.monotonic() + self._wait

    def _finish(self) -> None:
        with self._lock:
            if self._done.is_set():
                return
            _safely(self._final)
            self._done.set()
        _active.discard(self)

    def finish_if_ended(self) -> None:
        """Draw the final frame now, on this thread, if the source has finished (else leave it refreshing)."""
        with self._lock:
            if self._done.is_set() or not self._finished():
                return
        self._finish()


_active: weakref.WeakSet[Live] = weakref.WeakSet()  # started, final frame not drawn yet


def finish_ended() -> None:
    """Every view whose source has finished gets its final frame now (a cell ends: before it goes idle, so a
    saved notebook holds the final frame however busy the machine is)."""
    for live in list(_active):
        live.finish_if_ended()


def _safely(step: Callable[[], None]) -> None:
    # A view that fails to redraw (a widget closed by the frontend) must not end the call it shows.
    with contextlib.suppress(Exception):
        step()


class _Scheduler:
    """The one thread that ticks every live view, each at its own pace."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Live]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self.thread = threading.Thread(target=self._serve, name="baml_magic-views", daemon=True)
        self.thread.start()

    def add(self, live: Live, when: float) -> None:
        with self._cond:
            heapq.heappush(self._due, (when, next(self._order), live))
            self._cond.notify()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._due:
                    self._cond.wait()
                when, _, live = self._due[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._due)
            following = live.tick()
            if following is not None:
                self.add(live, following)


_instance: _Scheduler | None = None
_instance_lock = threading.Lock()


def _scheduler() -> _Scheduler:
    global _instance
    with _instance_lock:
        if _instance is None or not _instance.thread.is_alive():
            _instance = _Scheduler()
        return _instance
