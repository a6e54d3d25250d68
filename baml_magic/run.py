"""One LLM call on BAML's async runtime, driven from a worker thread and cancellable at once.

Why this shape (see the measured traps in DESIGN.md): baml-py's sync streams hold the GIL
and join their thread for up to 5 s on the way out, and blocking calls ignore SIGINT. The
async API awaited on an event loop of our own, in a worker thread, releases the GIL and
honours ``AbortController.abort()`` at once. The caller's thread only waits in short,
interruptible waits, so a KeyboardInterrupt lands there and aborts the request.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import baml_py
from baml_py.errors import BamlAbortError, BamlClientError, BamlTimeoutError

from baml_magic import clients, events
from baml_magic.codegen import TypeModules
from baml_magic.errors import clean_message
from baml_magic.redact import redact, scrub

POLL_SECONDS = 0.05  # longest uninterruptible wait of the calling thread
ASYNC_POLL_SECONDS = 0.02  # how often async waiters look for news (and let a cancellation in)
CANCEL_GRACE_SECONDS = 0.5  # how long a cancelled call may take to wind down before we move on


class Worker:
    """A daemon thread running one asyncio loop for every BAML call of the process."""

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

    def call_soon(self, callback: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(callback)

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


@dataclass(frozen=True)
class CallOptions:
    """Per-call settings: a client to use instead of the function's own, a deadline, a TypeBuilder."""

    client: str | None = None
    timeout: float | None = None
    tb: Any = None  # the generated TypeBuilder (for @@dynamic types), or None


class Run:
    """One call: its state, latest partial, final value or error, timing and usage.

    It is what ``Fn.last`` holds. Status goes pending -> streaming -> done | cancelled | error.
    """

    def __init__(self, function: str, args: dict[str, Any], runtime: baml_py.BamlRuntime,
                 types: TypeModules, client: str | None, override: str | None, options: CallOptions) -> None:
        self.function = function
        self.args = args
        self.client = client  # the client this call asked for
        self.override = override  # set when it is not the function's own
        self.options = options
        self.status = "pending"
        self.partial: Any = None
        self.value: Any = None
        self.error: BaseException | None = None
        self.started_at = time.time()
        self.start: float = time.monotonic()
        self.first_partial: float | None = None
        self.end: float | None = None
        self.partials = 0
        self.collector = baml_py.Collector("baml_magic")
        self._runtime = runtime
        self._types = types
        self._abort = baml_py.AbortController()
        self._cancel_reason: str | None = None
        self._cond = threading.Condition()
        self._version = 0
        self.listeners: list[Callable[[Run], None]] = []

    # -- life cycle ------------------------------------------------------------

    def begin(self) -> Run:
        self.status = "streaming"
        self._emit("start")
        worker().submit(self._drive())
        return self

    def _emit(self, kind: str) -> None:
        if not events.active():  # partials are a hot path: build nothing when nobody listens
            return
        events.emit(events.Event(
            kind=kind, function=self.function, args=self.args, client=self.client, status=self.status,
            partial=self.partial, value=self.value, error=self.error, usage=self.usage, elapsed=self.elapsed,
            time_to_first_token=self.time_to_first_token,
        ))

    async def _drive(self) -> None:
        deadline = None
        if self.options.timeout is not None:
            deadline = asyncio.get_running_loop().call_later(self.options.timeout, self.cancel, "timeout")
        registry = clients.registry(self.override)
        env = dict(os.environ)
        ctx = self._runtime.create_context_manager()
        try:
            stream = self._runtime.stream_function(
                self.function, self.args, self._on_event, ctx, type_builder(self.options.tb), registry,
                [self.collector],
                env, {}, None, self._abort,
            )
            result = await stream.done(ctx)
            value = result.cast_to(self._types.types, self._types.types, self._types.stream_types, False,
                                   self._runtime)
            if stream_cut_short(self.collector.last):
                with self._cond:
                    self.partial = value
                raise BamlClientError(
                    f"{self.function}: the stream ended before the model finished (the connection closed "
                    "mid-stream); the partial result is kept")
        except BaseException as exc:  # noqa: BLE001 - every outcome is recorded, then re-raised to the caller
            self._finish("error", error=scrub(self._translate(exc)))
        else:
            self._finish("done", value=value)
        finally:
            if deadline is not None:
                deadline.cancel()

    def _translate(self, exc: BaseException) -> BaseException:
        if self._cancel_reason == "timeout":
            timeout = self.options.timeout
            return BamlTimeoutError(self.client or "", f"{self.function} did not finish within {timeout:g} s")
        if self._cancel_reason is not None or isinstance(exc, (BamlAbortError, asyncio.CancelledError)):
            return exc if isinstance(exc, BamlAbortError) else BamlAbortError("cancelled")
        return exc

    def _on_event(self, result: Any) -> None:
        # Exceptions raised here would be swallowed by the runtime: keep this total.
        try:
            if not result.is_ok():
                return
            partial = result.cast_to(self._types.types, self._types.types, self._types.stream_types, True,
                                     self._runtime)
        except Exception:  # noqa: BLE001 - a partial that does not cast yet is simply skipped
            return
        with self._cond:
            if self.end is not None:
                return
            if self.first_partial is None:
                self.first_partial = time.monotonic()
            self.partial = partial
            self.partials += 1
            self._bump()
        self._emit("partial")

    def _finish(self, status: str, value: Any = None, error: BaseException | None = None) -> None:
        with self._cond:
            if self.end is not None:
                return
            self.end = time.monotonic()
            if status == "error" and self._cancel_reason == "cancelled":
                status = "cancelled"
            self.status = status
            self.value = value
            self.error = error
            if status == "done":
                self.partial = value
            self._bump()
        self._emit("error" if error is not None else "finish")
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):
                listener(self)

    def _bump(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def cancel(self, reason: str = "cancelled") -> None:
        """Abort the request now: the HTTP connection is closed, the partial is kept."""
        if self.end is not None:
            return
        with self._cond:
            if self._cancel_reason is None:
                self._cancel_reason = reason
        self._abort.abort()

    # -- waiting -----------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.end is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (interruptibly) until the call has ended; True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.end is None:
                left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def wait_news(self, seen: int) -> int:
        """Wait (interruptibly) until there is a version newer than ``seen`` or the call ended."""
        with self._cond:
            while self._version == seen and self.end is None:
                self._cond.wait(POLL_SECONDS)
            return self._version

    def updates(self, interval: float, heartbeat: float = 0.5) -> Iterator[Run]:
        """Yield self whenever there is news, at most once per ``interval``, and once at the end.

        The last partial and the final state are never skipped; a heartbeat keeps the clock moving.
        """
        seen = -1
        last_yield = 0.0
        while True:
            with self._cond:
                now = time.monotonic()
                fresh = self._version != seen
                due = now - last_yield >= interval
                if self.end is None and not ((fresh and due) or now - last_yield >= heartbeat):
                    wait = (last_yield + interval - now) if fresh else POLL_SECONDS
                    self._cond.wait(max(0.001, min(POLL_SECONDS, wait)))
                    continue
                seen, finished = self._version, self.end is not None
            last_yield = time.monotonic()
            yield self
            if finished:
                return

    def result(self, timeout: float | None = None) -> Any:
        """The final value (raising the call's error), waiting up to ``timeout`` seconds."""
        if not self.wait(timeout):
            raise TimeoutError(f"{self.function} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.value

    def settle(self) -> None:
        """After cancel(): give the worker a moment to record the outcome."""
        self.wait(CANCEL_GRACE_SECONDS)
        if self.end is None:
            self._finish("cancelled", error=BamlAbortError("cancelled"))

    async def async_updates(self) -> AsyncIterator[Run]:
        """Yield self on each new partial and once at the end, from the caller's event loop.

        It polls with short sleeps rather than waiting on an event: ipykernel interrupts an
        await-cell by cancelling its task from a signal handler, which the loop only sees when
        it wakes, and ``asyncio.wait_for`` can swallow a cancellation that races a wake-up.
        """
        seen = -1
        while True:
            finished = self.end is not None
            if self._version != seen:
                seen = self._version
                yield self
            if finished:
                return
            await asyncio.sleep(ASYNC_POLL_SECONDS)

    # -- what happened -------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return (self.end or time.monotonic()) - self.start

    @property
    def time_to_first_token(self) -> float | None:
        return None if self.first_partial is None else self.first_partial - self.start

    @property
    def log(self) -> Any:
        return self.collector.last

    @property
    def usage(self) -> dict[str, int | None]:
        log = self.collector.last
        usage = log.usage if log is not None else None
        return {
            "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": usage.output_tokens if usage else None,
        }

    @property
    def provider(self) -> str | None:
        call = self._selected_call()
        return call.provider if call is not None else None

    @property
    def client_name(self) -> str | None:
        """The client that answered, as BAML names it (after any fallback or retry)."""
        call = self._selected_call()
        return call.client_name if call is not None else self.client

    def _selected_call(self) -> Any:
        log = self.collector.last
        if log is None:
            return None
        return log.selected_call or (log.calls[-1] if log.calls else None)

    @property
    def timing(self) -> dict[str, float | None]:
        """Seconds: when it started (epoch), how long it took, and the time to the first partial."""
        return {"started_at": self.started_at, "duration": self.elapsed,
                "time_to_first_token": self.time_to_first_token}

    @property
    def raw_response(self) -> str | None:
        log = self.collector.last
        return log.raw_llm_response if log is not None else None

    @property
    def error_message(self) -> str | None:
        """One readable line or two for views and notes; secrets redacted."""
        if self.error is None:
            return None
        return redact(short_error(self.error))

    def __repr__(self) -> str:
        return f"<Run {self.function} {self.status} {self.elapsed:.2f}s partials={self.partials}>"


def type_builder(tb: Any) -> Any:
    """The runtime's own TypeBuilder inside a generated one (or None)."""
    return None if tb is None else tb._tb


def stream_cut_short(log: Any) -> bool:
    """True when a streamed answer stopped without the provider's end marker.

    baml-py's lenient parser turns a truncated answer into a final value when the JSON can be
    completed; OpenAI- and Anthropic-style streams say when they really finished.
    """
    call = getattr(log, "selected_call", None) if log is not None else None
    sse = call.sse_responses() if call is not None and hasattr(call, "sse_responses") else None
    if not sse:
        return False
    events = []
    for response in sse:
        if response.text.strip() == "[DONE]":
            return False
        try:
            events.append(response.json())
        except Exception:  # noqa: BLE001 - an event that is not JSON says nothing either way
            continue
    events = [e for e in events if isinstance(e, dict)]
    if any("choices" in e for e in events):  # OpenAI style
        return not any(c.get("finish_reason") for e in events for c in e.get("choices") or [])
    if any("type" in e for e in events):  # Anthropic style
        return not any(e.get("type") == "message_stop" for e in events)
    return False


def short_error(exc: BaseException) -> str:
    """A BAML exception as a short message: its type and its own message, no backtrace."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    message = clean_message(str(message))
    lines = [line for line in message.splitlines() if line.strip()]
    text = "\n".join(lines[:6]) + ("\n…" if len(lines) > 6 else "")
    status = getattr(exc, "status_code", None)
    prefix = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
    return f"{prefix}: {text}"
