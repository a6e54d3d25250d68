"""The one worker thread that runs every BAML call of the process on an asyncio loop of its own.

Why (see the measured traps in DESIGN.md): baml-py's sync streams hold the GIL and join their
thread for up to 5 s on the way out, and blocking calls ignore SIGINT. The async API awaited on
a loop of our own, in a daemon thread, releases the GIL and honours ``AbortController.abort()``
at once. The loop is stopped cleanly at exit (scripts using the async API have been seen to die
with ``PyGILState_Release`` otherwise).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any


class Worker:
    """A daemon thread running one asyncio loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name="baml_magic-worker", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # Stopped: let cancelled tasks finish their cleanup, then close.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 5.0) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)


_worker: Worker | None = None
_worker_lock = threading.Lock()


def worker() -> Worker:
    """The process's worker, started on first use and stopped cleanly at exit."""
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.thread.is_alive():
            _worker = Worker()
            atexit.register(_worker.stop)
        return _worker
