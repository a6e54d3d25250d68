"""One LLM call's state and news: pending -> streaming -> done | cancelled | error.

A Run only holds what happened and publishes news (a version number and a condition to wait on);
the drivers (``_drive``) make the call through the engine, views redraw it through the live
driver, and the caller's thread waits in short, interruptible waits, so a KeyboardInterrupt lands
there and aborts the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from baml_py.errors import BamlAbortError

from baml_magic import events
from baml_magic._errors import short_error
from baml_magic._redact import redact, remember_headers
from baml_magic._types import Status, has_content
from baml_magic.calls import _env as environment
from baml_magic.calls._cache import Answer, ResponseCache
from baml_magic.calls._checks import checked_wait
from baml_magic.calls._options import CallOptions
from baml_magic.calls._run_facts import RunFacts
from baml_magic.engine import Engine, EngineCall

POLL_SECONDS = 0.05  # longest uninterruptible wait of the calling thread
ASYNC_POLL_SECONDS = 0.02  # how often async waiters look for news (and let a cancellation in)
CANCEL_GRACE_SECONDS = 0.5  # how long a cancelled call may take to wind down before we move on


class Run(RunFacts):
    """One call: its state, latest partial, final value or error, timing and usage.

    It is what ``Fn.last`` holds. Status goes pending -> streaming -> done | cancelled | error.
    """

    def __init__(self, function: str, args: dict[str, Any], engine: Engine, *, client: str | None,
                 override: str | None, options: CallOptions, stream: bool = True,
                 cache: ResponseCache | None = None, returns: str = "", env: dict[str, str] | None = None,
                 returns_hint: tuple[Any, dict[str, dict[str, str]]] | None = None,
                 allow_incomplete: bool = False, plain: bool = False) -> None:
        self.function = function
        self.args = args
        self.client = client  # the client this call asked for
        self.override = override  # set when it is not the function's own
        self.options = options
        self.stream = stream  # False: nobody reads partials (a map's calls), so the answer comes in one piece
        self.plain = plain  # that piece asked for as a plain request, not streamed on the wire
        self.status = Status.PENDING
        self.partial: Any = None
        self.value: Any = None
        self.error: BaseException | None = None
        self.started_at = time.time()
        self.start: float = time.monotonic()
        self.first_partial: float | None = None
        self.end: float | None = None
        self.partials = 0
        self.cache = cache  # the session's response cache, when it is on
        self.cached: Answer | None = None  # the recorded answer this run replayed
        self.returns = returns  # the return type, part of the cache key
        self.returns_hint = returns_hint  # (return type, aliases) to tell a listening stand-in model
        # The environment to call with (a map's calls share one copy), else a copy taken now.
        self.call: EngineCall = engine.open_call(function, args, client=override, tb=options.tb,
                                                 env=env if env is not None else environment.environ(), stream=stream)
        self.allow_incomplete = allow_incomplete
        self.incomplete: str | None = None  # why the answer is not whole (cut, filtered, refused), when it is not
        self.cancel_reason: str | None = None
        self.stopped_with: Any = None  # the partial its stop_when accepted (the value of a stopped call)
        self.stop_error: Exception | None = None  # what its stop_when raised, if it did
        self.last_token: float | None = None  # when the last partial came (idle_timeout watches it)
        self.thoughts: list[str] = []
        self.first_thought: float | None = None
        self._released = False
        self._settled = False  # every listener has been told of the end
        self._compact_wanted = False
        self._cond = threading.Condition()  # news: partials and the end
        self._ended = threading.Event()  # the end only: waiting for it is not woken by every token
        self._version = 0
        self.listeners: list[Callable[[Run], None]] = []
        self.priced_by: Callable[[Run], float | None] | None = None  # the session's prices (BamlMagic.prices)
        self.test_maker: Callable[[Run, str | None, Any], Any] | None = None  # the bound function's (to_test)

    # -- what its driver tells it (calls/_drive, a replay): nothing a user needs to call ------------

    def mark_streaming(self) -> None:
        """The request is out: the call is streaming."""
        self.status = Status.STREAMING
        self._emit("start")

    def _emit(self, kind: str) -> None:
        if not events.active():  # partials are a hot path: build nothing when nobody listens
            return
        events.emit(events.Event(
            kind=kind, function=self.function, args=self.args, client=self.client, status=self.status,
            partial=self.partial, value=self.value, error=self.error, usage=self.usage, elapsed=self.elapsed,
            time_to_first_token=self.time_to_first_token,
        ))

    def take_partial(self, partial: Any) -> None:
        """A new partial value (from the stream, or a replay); watchers are woken."""
        self.last_token = time.monotonic()
        with self._cond:
            if self.end is not None or self.cancel_reason == "stopped":  # the stopping partial is the answer
                return
            if self.partial is None and not has_content(partial):  # nothing of the answer yet (a model thinking)
                return
            if self.first_partial is None:
                self.first_partial = time.monotonic()
            self.partial = partial
            self.partials += 1
            self._bump()
        self._emit("partial")
        if self.options.stop_when is not None and self.cancel_reason is None:
            self._stop_if_asked(self.options.stop_when, partial)

    def _stop_if_asked(self, stop_when: Callable[[Any], Any], partial: Any) -> None:
        """``stop_when(partial)`` true: the request is closed now and this partial is the call's value; the
        predicate's own error ends the call with that error."""
        try:
            wanted = stop_when(partial)
        except Exception as exc:  # noqa: BLE001 - the user's predicate: its error is the call's
            self.stop_error = exc
            self.cancel("stop_when raised")
            return
        if wanted:
            with self._cond:
                self.stopped_with = partial
            self.cancel("stopped")

    def take_reasoning(self, piece: str) -> None:
        """A piece of the model's thinking, read from the stream before the answer; watchers are woken."""
        self.last_token = time.monotonic()
        with self._cond:
            if self.end is not None:
                return
            self.first_thought = self.first_thought or time.monotonic()
            self.thoughts.append(piece)
            self._bump()

    def keep_partial(self, partial: Any) -> None:
        """What parsed of an answer that ends as an error."""
        with self._cond:
            self.partial = partial

    def finish(self, status: Status, value: Any = None, error: BaseException | None = None) -> None:
        """The end: a value, or an error (a cancelled call's error is a cancellation); listeners are told."""
        with self._cond:
            if self.end is not None:
                return
            self.end = time.monotonic()
            if status is Status.ERROR and self.cancel_reason == "cancelled":
                status = Status.CANCELLED
            elif status is Status.ERROR and self.cancel_reason == "stopped":
                status, value, error = Status.STOPPED, self.stopped_with, None
            self.status = status
            self.value = value
            self.error = error
            if status in (Status.DONE, Status.STOPPED):
                self.partial = value
            self._bump()
            self._ended.set()
        for headers in self.call.facts(error).headers:  # the headers sent hold secrets: scrub their values
            remember_headers(headers)
        self._emit("error" if error is not None else "finish")
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):
                listener(self)
        with self._cond:
            self._settled = True
            wanted = self._compact_wanted
        if wanted:
            self.compact()

    def compact(self) -> None:
        """Keep what the session's history needs (usage, client) and let go of the call's log and raw stream.

        The session does this to a function's previous run when a new one starts: ``Fn.last`` keeps
        everything, older runs stay small.
        """
        with self._cond:
            if not self._settled:  # its listeners have not all read it yet (the caller may go on before they do)
                self._compact_wanted = True
                return
        if self._released:
            return
        self.call.release()
        self._released = True
        self.listeners = []  # all called already

    def _bump(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def cancel(self, reason: str = "cancelled") -> None:
        """Abort the request now: the HTTP connection is closed, the partial is kept."""
        if self.end is not None:
            return
        with self._cond:
            if self.cancel_reason is None:
                self.cancel_reason = reason
        self.call.abort()

    def settle(self) -> None:
        """After cancel(): give the worker a moment to record the outcome, else record the cancel here."""
        self.wait(CANCEL_GRACE_SECONDS)
        if self.end is None:
            self.finish(Status.CANCELLED, error=BamlAbortError("cancelled"))

    # -- news ----------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Whether the call has ended."""
        return self.end is not None

    def version(self) -> int:
        """A number that changes with every piece of news (a partial, the end)."""
        return self._version

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (interruptibly) until the call has ended; True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended.is_set():
            left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
            if left <= 0:
                return False
            self._ended.wait(left)  # short waits, so a KeyboardInterrupt lands between them
        return True

    def wait_news(self, seen: int, timeout: float | None = None) -> int:
        """Wait (interruptibly) for a version newer than ``seen`` or the end; the version now.

        With a timeout, it gives up after that many seconds and returns the version as it is.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._version == seen and self.end is None:
                left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._version

    async def async_news(self) -> AsyncIterator[int]:
        """The version on each news and once at the end, from the caller's event loop.

        It polls with short sleeps rather than waiting on an event: ipykernel interrupts an
        await-cell by cancelling its task from a signal handler, which the loop only sees when
        it wakes, and ``asyncio.wait_for`` can swallow a cancellation that races a wake-up.
        """
        seen = -1
        while True:
            finished = self.end is not None
            if self._version != seen:
                seen = self._version
                yield seen
            if finished:
                return
            await asyncio.sleep(ASYNC_POLL_SECONDS)

    def result(self, timeout: float | None = None) -> Any:
        """The final value (raising the call's error), waiting up to ``timeout`` seconds."""
        if not self.wait(checked_wait(timeout)):
            raise TimeoutError(f"{self.function} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.value

    # -- what happened -------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Seconds from the call's start to its end (or to now)."""
        return (self.end or time.monotonic()) - self.start

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from the start to the first partial (None before one came, or in one piece)."""
        return None if self.first_partial is None else self.first_partial - self.start

    def kept_note(self) -> str:
        """Where what arrived before a cancel is, in words (there may be nothing), for an interrupt's line."""
        if self.partial is not None:
            return f"the partial is in {self.function}.last.partial"
        if not self.stream:
            return f"it was not streaming (stream=False), so there is no partial; {self.function}.last has the run"
        return f"nothing had arrived yet, so there is no partial; {self.function}.last has the run"

    @property
    def error_message(self) -> str | None:
        """One readable line or two for views and notes; secrets redacted."""
        if self.error is None:
            return None
        return redact(short_error(self.error))

    def to_test(self, name: str | None = None, *, expect: Any = None) -> Any:
        """This run as a BAML test block, in the session's project at once (``%baml test`` runs it) and shown
        ready to paste: its inputs as args, ``@@assert``s that the answer's fields (``expect=["category"]``), the
        whole answer (``"all"``) or an expression of your own (``"this.score > 3"``) hold."""
        if self.test_maker is None:
            raise RuntimeError("only a call of a bound function becomes a test")
        return self.test_maker(self, name, expect)

    def __repr__(self) -> str:
        replayed = " replayed from the cache" if self.cached is not None else ""
        return f"<Run {self.function} {self.status}{replayed} {self.elapsed:.2f}s partials={self.partials}>"
