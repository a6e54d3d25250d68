"""The one worker thread that runs every BAML call of the process on an asyncio loop of its own.

Why (measured): baml-py's sync streams hold the GIL and join their
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
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from baml_magic._errors import RequestBuildError, interrupted

T = TypeVar("T")


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


def wait_for(start: Callable[[], Awaitable[T]], seconds: float, what: str) -> T:
    """Await on the worker from this thread, in short waits (an interrupt lands), for at most ``seconds``.

    For work with no abort of its own (building a request fetches media URLs): on an interrupt or at the
    deadline the work is cancelled and the caller gets one line saying nothing was sent.
    """
    async def run() -> T:  # started on the worker's loop: BAML's awaitables belong to the loop they start on
        return await start()

    future = worker().submit(run())
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                result: T = future.result(timeout=max(0.0, min(0.05, deadline - time.monotonic())))
                return result
            except concurrent.futures.TimeoutError:
                if time.monotonic() >= deadline:
                    future.cancel()
                    raise RequestBuildError(f"{what} took more than {seconds:g} s; nothing was sent") from None
    except KeyboardInterrupt:
        future.cancel()
        raise interrupted(what, "nothing was sent") from None


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
