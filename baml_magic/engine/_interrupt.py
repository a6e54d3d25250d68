"""A SIGINT that reaches a blocking BAML call made on the main thread.

baml-py's blocking ``call_function_sync`` releases the GIL and honours an abort from another
thread, but Python runs its SIGINT handler only once the call has returned. Python's C-level
handler does write the signal's number to the wakeup fd at once, though: while a call runs,
that fd is ours, and a watcher thread that reads it aborts the call. The KeyboardInterrupt
then lands as usual when the call returns, milliseconds later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable


class _Watcher:
    """The wakeup fd's reading end and the thread that reads it."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # set_wakeup_fd requires it
        self.on_interrupt: Callable[[], None] | None = None
        self.forward = -1  # the wakeup fd we replaced, which gets every byte too
        threading.Thread(target=self._serve, name="baml_magic-sigint", daemon=True).start()

    def _serve(self) -> None:
        while True:
            data = os.read(self._read, 64)
            action = self.on_interrupt
            if action is not None and signal.SIGINT in data:
                action()
            if self.forward != -1:
                with contextlib.suppress(OSError):
                    os.write(self.forward, data)

    def watching(self, on_interrupt: Callable[[], None]) -> _Watcher:
        self.on_interrupt = on_interrupt
        return self

    def __enter__(self) -> None:
        self.forward = signal.set_wakeup_fd(self._write)

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self.forward)
        self.forward = -1
        self.on_interrupt = None


_watcher: _Watcher | None = None


def can_watch() -> bool:
    """Whether a SIGINT can reach a blocking call made here: Python handles signals on the main thread only.

    (Where SIGINT is ignored, an interrupt reaches no call at all, blocking or not.)
    """
    return threading.current_thread() is threading.main_thread()


def abort_on_interrupt(abort: Callable[[], None]) -> contextlib.AbstractContextManager[None]:
    """Call ``abort`` from another thread as soon as a SIGINT arrives, while the block runs (main thread only).

    A context manager of its own rather than a generator: every call made here goes through it.
    """
    global _watcher
    if _watcher is None:
        _watcher = _Watcher()
    return _watcher.watching(abort)
