"""One LLM call: its state machine, driven on the worker thread and cancellable at once.

A Run only publishes news (a version number and a condition to wait on); views redraw it
through the live driver. The caller's thread waits in short, interruptible waits, so a
KeyboardInterrupt lands there and aborts the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import baml_py
from baml_py.errors import BamlAbortError, BamlClientError, BamlTimeoutError, BamlValidationError

from baml_magic import _clients as clients
from baml_magic import events
from baml_magic._cache import Answer, CacheMiss, ResponseCache, request_key
from baml_magic._checks import checked_timeout, checked_wait
from baml_magic._codegen import TypeModules
from baml_magic._errors import short_error
from baml_magic._facts import Facts, read_log, reply_of, selected_call
from baml_magic._interrupt import abort_on_interrupt, can_watch
from baml_magic._media import summary
from baml_magic._redact import redact, remember_headers, scrub
from baml_magic._types import Status, Timing, Usage
from baml_magic._worker import worker

POLL_SECONDS = 0.05  # longest uninterruptible wait of the calling thread
ASYNC_POLL_SECONDS = 0.02  # how often async waiters look for news (and let a cancellation in)
CANCEL_GRACE_SECONDS = 0.5  # how long a cancelled call may take to wind down before we move on
REPLAY_SHARE, REPLAY_SECONDS = 0.1, 0.02  # a replay not at the recorded pace: a tenth of it, 20 ms at most


@dataclass(frozen=True)
class CallOptions:
    """Per-call settings: a client to use instead of the function's own, deadlines, a TypeBuilder, streaming."""

    client: str | None = None
    timeout: float | None = None
    idle_timeout: float | None = None  # the longest wait for the next token before the call ends as a stall
    tb: Any = None  # the generated TypeBuilder (for @@dynamic types), or None
    stream: bool | None = None  # whether Fn() streams; None: as the session says (BamlMagic.stream)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", checked_timeout(self.timeout))
        object.__setattr__(self, "idle_timeout", checked_timeout(self.idle_timeout, "idle_timeout"))
        if self.stream is not None and not isinstance(self.stream, bool):
            raise TypeError(f"stream must be True or False, got {self.stream!r:.40}")


def type_builder(tb: Any) -> baml_py.baml_py.TypeBuilder | None:
    """The runtime's own TypeBuilder inside a generated one (or None)."""
    return None if tb is None else tb._tb


class Run:
    """One call: its state, latest partial, final value or error, timing and usage.

    It is what ``Fn.last`` holds. Status goes pending -> streaming -> done | cancelled | error.
    """

    def __init__(self, function: str, args: dict[str, Any], runtime: baml_py.BamlRuntime, types: TypeModules,
                 *, client: str | None, override: str | None, options: CallOptions, stream: bool = True,
                 cache: ResponseCache | None = None, returns: str = "", env: dict[str, str] | None = None) -> None:
        self.function = function
        self.args = args
        self.client = client  # the client this call asked for
        self.override = override  # set when it is not the function's own
        self.options = options
        self.stream = stream  # False: nobody reads partials (a map's calls), so the answer comes in one piece
        self.status = Status.PENDING
        self.partial: Any = None
        self.value: Any = None
        self.error: BaseException | None = None
        self.started_at = time.time()
        self.start: float = time.monotonic()
        self.first_partial: float | None = None
        self.end: float | None = None
        self.partials = 0
        self.collector: baml_py.Collector | None = baml_py.Collector("baml_magic")
        self._facts: Facts | None = None  # what the call's log says, read once when the call has ended
        self.cache = cache  # the session's response cache, when it is on
        self.cached: Answer | None = None  # the recorded answer this run replayed
        self._returns = returns  # the return type, part of the cache key
        self._env = env  # the environment to call with (a map's calls share one copy); None: a copy at the start
        self._runtime = runtime
        self._types = types
        self._abort = baml_py.AbortController()
        self._cancel_reason: str | None = None
        self._last_token: float | None = None  # when the last partial came (idle_timeout watches it)
        self._cond = threading.Condition()  # news: partials and the end
        self._ended = threading.Event()  # the end only: waiting for it is not woken by every token
        self._version = 0
        self.listeners: list[Callable[[Run], None]] = []

    # -- life cycle ------------------------------------------------------------

    def begin(self) -> Run:
        """Start the call on the worker's loop and return at once."""
        self._started()
        worker().submit(self._drive())
        return self

    def _started(self) -> None:
        self.status = Status.STREAMING
        self._emit("start")

    @property
    def can_run_here(self) -> bool:
        """Whether ``run_here`` may make this call: an answer in one piece, no deadline, stall watch or cache
        (those need the worker's loop), and a thread a SIGINT can reach."""
        return not self.stream and self.cache is None and self.options.timeout is None \
            and self.options.idle_timeout is None and can_watch()

    def run_here(self) -> None:
        """Make the call on this (main) thread through baml-py's blocking API, and return when it has ended.

        For an answer in one piece that is the cheapest way: no thread or loop hop. The GIL is
        released while it waits, and a SIGINT aborts the request at once (see ``_interrupt``);
        the KeyboardInterrupt is raised once the call's outcome is recorded.
        """
        self._started()
        try:
            with abort_on_interrupt(self.cancel):
                ctx = self._runtime.create_context_manager()
                if self._cancel_reason is not None:  # the blocking call ignores a controller aborted before it starts
                    raise BamlAbortError("cancelled")
                result = self._runtime.call_function_sync(
                    self.function, self.args, ctx, type_builder(self.options.tb), clients.registry(self.override),
                    [self.collector] if self.collector is not None else [], self._environment(), {},
                    abort_controller=self._abort)
                value = self._value(result)
        except KeyboardInterrupt as exc:  # recorded as a cancellation, then raised again
            self.cancel()
            self._fail(exc)
            raise
        except BaseException as exc:  # noqa: BLE001 - every outcome is recorded and reaches the caller as the error
            self._fail(exc)
        else:
            self._finish(Status.DONE, value=value)

    def _value(self, result: Any) -> Any:
        """The typed value of a finished call; a stream that ended without its end marker is an error."""
        value = result.cast_to(self._types.types, self._types.types, self._types.stream_types, False, self._runtime)
        facts = self._read_facts()
        if (self.stream and facts.reply.cut_short) or not (facts.raw or "").strip():
            problem = self._problem() if not (facts.raw or "").strip() else None
            if not (self.stream and facts.reply.cut_short) and problem is None:
                return value
            with self._cond:
                self.partial = value
            if problem is not None:  # an empty answer the provider explained: a refusal, a filter, the limit
                raise BamlValidationError("", f"{self.function}: {problem}", facts.raw or "", "")
            raise BamlClientError(f"{self.function}: the stream ended before the model finished "
                                  f"({facts.reply.error or 'the connection closed mid-stream'}); the partial "
                                  "result is kept")
        return value

    def _read_facts(self, error: BaseException | None = None) -> Facts:
        """What the call's log says, read once (the call has ended at BAML: its log is whole)."""
        if self._facts is None:
            log = self.collector.last if self.collector is not None else None
            self._facts = read_log(log, status_code=getattr(error, "status_code", None))
        return self._facts

    def _problem(self) -> str | None:
        """Why the answer is not what was asked, when the provider said so (every stream event is read)."""
        log = self.collector.last if self.collector is not None else None
        return reply_of(selected_call(log), whole=True).problem() if log is not None else None

    def _fail(self, exc: BaseException) -> None:
        """End as an error; an answer that came whole but did not parse leaves what did as the partial."""
        self._read_facts(exc)
        if not self.stream and self.partial is None and self._cancel_reason is None:
            self._partial_from_raw()
        self._finish(Status.ERROR, error=scrub(self._translate(exc)))

    def _partial_from_raw(self) -> None:
        raw = self._read_facts().raw
        if not raw:
            return
        with contextlib.suppress(Exception):  # nothing of it parses: no partial
            self.partial = self._parse(raw, True, self._runtime.create_context_manager(),
                                       type_builder(self.options.tb), clients.registry(self.override),
                                       self._environment())

    def _environment(self) -> dict[str, str]:
        """The environment to call with: the one given (a map's calls share one), else a copy taken now."""
        return self._env if self._env is not None else clients.environ()

    def _parse(self, text: str, partial: bool, ctx: Any, tb: Any, registry: Any, env: dict[str, str]) -> Any:
        """An answer's text parsed by BAML into this function's type (``partial``: as far as it goes)."""
        types = self._types
        return self._runtime.parse_llm_response(self.function, text, types.types, types.types, types.stream_types,
                                                partial, ctx, tb, registry, env)

    def _emit(self, kind: str) -> None:
        if not events.active():  # partials are a hot path: build nothing when nobody listens
            return
        events.emit(events.Event(
            kind=kind, function=self.function, args=self.args, client=self.client, status=str(self.status),
            partial=self.partial, value=self.value, error=self.error, usage=self.usage, elapsed=self.elapsed,
            time_to_first_token=self.time_to_first_token,
        ))

    async def _drive(self) -> None:
        deadline = None
        watchdog = None
        try:  # everything inside: whatever fails, the run ends and its caller is told
            if self.options.timeout is not None:
                deadline = asyncio.get_running_loop().call_later(self.options.timeout, self.cancel, "timeout")
            if self.options.idle_timeout is not None:
                watchdog = asyncio.ensure_future(self._watch_idle(self.options.idle_timeout))
            ctx = self._runtime.create_context_manager()
            collectors = [self.collector] if self.collector is not None else []
            tb, registry, env = type_builder(self.options.tb), clients.registry(self.override), self._environment()
            key = await self._cache_key(ctx, tb, registry, env) if self.cache is not None else None
            if key is not None and self.cache is not None and self.cache.reads:
                answer = await asyncio.to_thread(self.cache.store().get, key)
                if answer is not None:
                    value = await self._replay(answer, ctx, tb, registry, env)
                    self._finish(Status.DONE, value=value)
                    return
                self.cache.misses += 1
                if self.cache.mode == "replay":
                    raise CacheMiss(f"{self.function}{_call_text(self.args)}: no recorded answer in "
                                    f"{self.cache.path} (cache mode replay); record it with %baml cache on")
            if self.stream:
                stream = self._runtime.stream_function(  # type: ignore[call-arg]  # the stub lacks abort_controller
                    self.function, self.args, self._on_event, ctx, tb, registry, collectors, env,
                    tags={}, on_tick=None, abort_controller=self._abort,
                )
                result = await stream.done(ctx)
            else:
                result = await self._runtime.call_function(
                    self.function, self.args, ctx, tb, registry, collectors, env, {}, abort_controller=self._abort)
            value = self._value(result)
            if key is not None and self.cache is not None and self.cache.writes and self._cancel_reason is None:
                await self._record(key)
        except BaseException as exc:  # noqa: BLE001 - every outcome is recorded, then re-raised to the caller
            self._fail(exc)
        else:
            self._finish(Status.DONE, value=value)
        finally:
            if deadline is not None:
                deadline.cancel()
            if watchdog is not None:
                watchdog.cancel()

    async def _cache_key(self, ctx: Any, tb: Any, registry: Any, env: dict[str, str]) -> str | None:
        """The call's cache key, from the request BAML would send; None when it can't be built."""
        try:
            request = await self._runtime.build_request(self.function, self.args, ctx, tb, registry, env, False)
        except Exception:  # noqa: BLE001 - the real call will say what is wrong
            return None
        return request_key(self.function, self._returns, request)

    async def _record(self, key: str) -> None:
        raw, cache = self.raw_response, self.cache
        if raw is None or cache is None:
            return
        usage = self.usage
        answer = Answer(raw, usage.input_tokens, usage.output_tokens, self.time_to_first_token,
                        time.monotonic() - self.start, self.provider, self.client_name, self.model)
        await asyncio.to_thread(cache.store().put, key, self.function, answer)
        cache.stored += 1

    async def _replay(self, answer: Answer, ctx: Any, tb: Any, registry: Any, env: dict[str, str]) -> Any:
        """The recorded answer parsed by BAML: partials as a stream would bring them, then the value."""
        assert self.cache is not None
        self.cached = answer
        self.cache.hit(answer)

        def parse(text: str, partial: bool) -> Any:
            return self._parse(text, partial, ctx, tb, registry, env)

        if self.stream:
            cuts = _cuts(answer.raw)
            # At the recorded pace (first token, then evenly to the end), or at once: spread over a few
            # milliseconds, so a stream's reader and the live view still see the answer grow.
            first, span = (answer.first_token or 0.0, answer.duration) if self.cache.pace else \
                (0.0, min(REPLAY_SECONDS, REPLAY_SHARE * answer.duration))
            for i, end in enumerate(cuts):
                await self._until(self.start + first + (span - first) * i / max(1, len(cuts) - 1))
                try:
                    self._take_partial(parse(answer.raw[:end], True))
                except Exception:  # noqa: BLE001 - a prefix that does not parse yet is skipped, as in a stream
                    continue
        elif self.cache.pace:  # in one piece, when the recorded call ended
            await self._until(self.start + answer.duration)
        return parse(answer.raw, False)

    async def _until(self, due: float) -> None:
        """Wait until ``due`` (a monotonic time) in short sleeps; a cancellation ends the wait as an abort."""
        while time.monotonic() < due and self._cancel_reason is None:
            await asyncio.sleep(min(0.02, due - time.monotonic()))
        await asyncio.sleep(0)  # let a cancellation in
        if self._cancel_reason is not None:
            raise BamlAbortError("cancelled")

    async def _watch_idle(self, idle: float) -> None:
        """End the call as a stall when no token has come for ``idle`` seconds."""
        while self.end is None:
            quiet = time.monotonic() - (self._last_token or self.start)
            if quiet >= idle:
                self.cancel("stall")
                return
            await asyncio.sleep(min(0.05, idle - quiet))

    def _translate(self, exc: BaseException) -> BaseException:
        if self._cancel_reason == "stall":
            return BamlTimeoutError(self.client or "", f"{self.function}: no token for {self.options.idle_timeout:g} s "
                                                       "(idle_timeout); the partial is kept")
        if self._cancel_reason == "timeout":
            timeout = self.options.timeout or 0.0
            return BamlTimeoutError(self.client or "", f"{self.function} did not finish within {timeout:g} s")
        if self._cancel_reason is not None or isinstance(exc, (BamlAbortError, asyncio.CancelledError)):
            return exc if isinstance(exc, BamlAbortError) else BamlAbortError("cancelled")
        reply = self._read_facts(exc).reply
        if self.stream and not isinstance(exc, BamlClientError) and reply.cut_short:
            # A connection that closed mid-answer, whatever the parser made of the rest.
            return BamlClientError(f"{self.function}: the stream ended before the model finished "
                                   f"({reply.error or 'the connection closed mid-stream'}); the partial result is kept")
        if isinstance(exc, BamlValidationError):
            problem = self._problem()
            if problem is not None:  # say what the provider said, not only what the parser missed
                return BamlValidationError(exc.prompt, f"{self.function}: {problem}; BAML could not parse the answer",
                                           exc.raw_output, exc.detailed_message)
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
        self._take_partial(partial)

    def _take_partial(self, partial: Any) -> None:
        self._last_token = time.monotonic()
        with self._cond:
            if self.end is not None:
                return
            if self.first_partial is None:
                self.first_partial = time.monotonic()
            self.partial = partial
            self.partials += 1
            self._bump()
        self._emit("partial")

    def _finish(self, status: Status, value: Any = None, error: BaseException | None = None) -> None:
        with self._cond:
            if self.end is not None:
                return
            self.end = time.monotonic()
            if status is Status.ERROR and self._cancel_reason == "cancelled":
                status = Status.CANCELLED
            self.status = status
            self.value = value
            self.error = error
            if status is Status.DONE:
                self.partial = value
            self._bump()
            self._ended.set()
        for headers in self._read_facts(error).headers:  # the headers sent hold secrets: scrub their values
            remember_headers(headers)
        self._emit("error" if error is not None else "finish")
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):
                listener(self)

    def compact(self) -> None:
        """Keep what the session's history needs (usage, client) and let go of the call's log and raw stream.

        The session does this to a function's previous run when a new one starts: ``Fn.last`` keeps
        everything, older runs stay small.
        """
        if self.end is None or self.collector is None:
            return
        self._facts = dataclasses.replace(self._read_facts(), raw=None, headers=())
        self.collector = None
        self.listeners = []  # all called already

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

    def settle(self) -> None:
        """After cancel(): give the worker a moment to record the outcome."""
        self.wait(CANCEL_GRACE_SECONDS)
        if self.end is None:
            self._finish(Status.CANCELLED, error=BamlAbortError("cancelled"))

    # -- news ----------------------------------------------------------------------

    @property
    def done(self) -> bool:
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
        return (self.end or time.monotonic()) - self.start

    @property
    def time_to_first_token(self) -> float | None:
        return None if self.first_partial is None else self.first_partial - self.start

    @property
    def facts(self) -> Facts:
        """What the call's log says (usage, who answered, the raw answer), once it has ended."""
        if self._facts is not None or self.end is not None:
            return self._read_facts()
        return Facts()

    @property
    def retry_after(self) -> float | None:
        """Seconds a 429 answer asked to wait, if it said."""
        return self.facts.retry_after

    @property
    def usage(self) -> Usage:
        """Tokens this call spent (none when it replayed a recorded answer: see ``saved``)."""
        return Usage(0, 0) if self.cached is not None else self.facts.usage

    @property
    def saved(self) -> Usage:
        """Tokens a replayed answer did not spend again (zero for a real call)."""
        return self.cached.usage if self.cached is not None else Usage(0, 0)

    @property
    def provider(self) -> str | None:
        return self.cached.provider if self.cached is not None else self.facts.provider

    @property
    def model(self) -> str | None:
        """The model that answered, as the request named it (what prices are looked up by)."""
        return self.cached.model if self.cached is not None else self.facts.model

    @property
    def client_name(self) -> str | None:
        """The client that answered, as BAML names it (after any fallback or retry)."""
        if self.cached is not None:
            return self.cached.client
        return self.facts.client or self.client

    @property
    def timing(self) -> Timing:
        return Timing(self.started_at, self.elapsed, self.time_to_first_token)

    @property
    def raw_response(self) -> str | None:
        return self.cached.raw if self.cached is not None else self.facts.raw

    def kept(self) -> str:
        """Where what arrived before a cancel is, in words (there may be nothing)."""
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

    def __repr__(self) -> str:
        return f"<Run {self.function} {self.status} {self.elapsed:.2f}s partials={self.partials}>"


def _cuts(raw: str, steps: int = 24) -> list[int]:
    """Where a replayed answer is cut into partials: about ``steps`` word ends, then the whole."""
    ends = [i for i in range(1, len(raw)) if raw[i] in " \n,}]" and raw[i - 1] not in " \n"]
    stride = max(1, len(ends) // steps)
    return [*ends[stride - 1::stride], len(raw)]


def _call_text(args: dict[str, Any]) -> str:
    """``(topic='owls', n=3)`` for messages, media named by kind and size, each value kept short."""
    return "(" + ", ".join(f"{k}={summary(v)!r:.60}" for k, v in args.items()) + ")"
