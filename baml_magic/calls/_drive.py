"""The drivers of a Run: on the worker's loop (streamed or in one piece, with deadline, stall watch and
cache), or on the main thread through the engine's blocking call; and what each ending means.

A stream that stopped without the provider's end marker, an answer the provider refused or cut at
its token limit, a deadline or a stall: each ends as BAML's own exception type with words that say
what happened, and the partial is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from baml_py.errors import (
    BamlAbortError,
    BamlClientError,
    BamlClientHttpError,
    BamlTimeoutError,
    BamlValidationError,
)

from baml_magic import _call_hooks as call_hooks
from baml_magic._errors import ChecksFailed, IncompleteAnswerError
from baml_magic._redact import scrub
from baml_magic._types import Status
from baml_magic.calls import _replay as replay
from baml_magic.calls._readable import parse_failure, readable, transport_problem
from baml_magic.calls._run import Run
from baml_magic.calls._stop_checks import failed_check, stops_on_checks
from baml_magic.engine import abort_on_interrupt, can_watch, worker
from baml_magic.wire import Reply


def can_run_here(run: Run) -> bool:
    """Whether ``run_here`` may make this call: an answer in one piece, no deadline, stall watch or cache
    (those need the worker's loop), and a thread a SIGINT can reach."""
    return not run.stream and run.cache is None and run.options.timeout is None \
        and run.options.idle_timeout is None and run.returns_hint is None and can_watch()


def begin(run: Run) -> Run:
    """Start the call on the worker's loop and return at once."""
    run.mark_streaming()
    worker().submit(drive(run))
    return run


def run_here(run: Run) -> None:
    """Make the call on this (main) thread through the engine's blocking call, and return when it has ended.

    For an answer in one piece that is the cheapest way: no thread or loop hop. The GIL is
    released while it waits, and a SIGINT aborts the request at once (see ``_interrupt``);
    the KeyboardInterrupt is raised once the call's outcome is recorded.
    """
    run.mark_streaming()
    try:
        with abort_on_interrupt(run.cancel):
            if run.cancel_reason is not None:  # the blocking call ignores a controller aborted before it starts
                raise BamlAbortError("cancelled")
            value = checked_value(run, run.call.call_blocking(plain=run.plain))
    except KeyboardInterrupt as exc:  # recorded as a cancellation, then raised again
        run.cancel()
        fail(run, exc)
        raise
    except BaseException as exc:  # noqa: BLE001 - every outcome is recorded and reaches the caller as the error
        fail(run, exc)
    else:
        run.finish(Status.DONE, value=value)


async def drive(run: Run) -> None:
    """The call on the worker's loop: whatever fails, the run ends and its caller is told."""
    deadline = watchdog = None
    try:
        if run.options.timeout is not None:
            deadline = asyncio.get_running_loop().call_later(run.options.timeout, run.cancel, "timeout")
        if run.options.idle_timeout is not None:
            watchdog = asyncio.ensure_future(_watch_idle(run, run.options.idle_timeout))
        if run.returns_hint is not None:
            await _tell_listeners(run)
        key = await replay.cache_key(run) if run.cache is not None else None
        if key is not None:
            replayed = await replay.lookup(run, key)
            if replayed is not replay.MISSING:
                run.finish(Status.DONE, value=replayed)
                return
        result = await (run.call.stream(run.take_partial, run.take_reasoning) if run.stream
                        else run.call.call(plain=run.plain))
        value = checked_value(run, result)
        if key is not None and run.cancel_reason is None and run.incomplete is None:  # a cut answer is not kept
            await replay.record(run, key)
    except BaseException as exc:  # noqa: BLE001 - every outcome is recorded, then re-raised to the caller
        fail(run, exc)
    else:
        run.finish(Status.DONE, value=value)
    finally:
        if deadline is not None:
            deadline.cancel()
        if watchdog is not None:
            watchdog.cancel()


async def _tell_listeners(run: Run) -> None:
    """A prompt that writes its format by hand, and a stand-in model listening: tell it the return type."""
    if run.returns_hint is None:
        return
    returns, aliases = run.returns_hint
    try:
        request = await run.call.request()
    except Exception:  # noqa: BLE001 - the call itself will say what is wrong
        return
    expected = [call_hooks.Expected(str(request.url), request.body.json(), returns, aliases)]
    await asyncio.to_thread(call_hooks.tell, expected)


async def _watch_idle(run: Run, idle: float) -> None:
    """End the call as a stall when no token has come for ``idle`` seconds."""
    while run.end is None:
        quiet = time.monotonic() - (run.last_token or run.start)
        if quiet >= idle:
            run.cancel("stall")
            return
        await asyncio.sleep(min(0.05, idle - quiet))


def checked_value(run: Run, value: object) -> object:
    """The typed value of a finished call; a stream that ended without its end marker, or an empty answer the
    provider explained (a refusal, a filter, the token limit), is an error with the partial kept. An answer that
    parsed but is not whole (cut, filtered, refused) is an ``IncompleteAnswerError`` unless the call accepts it."""
    facts = run.call.facts()
    empty = not (facts.raw or "").strip()
    cut = run.call.wire_streamed and facts.reply.cut_short
    run.incomplete = facts.reply.incomplete
    if not cut and not empty:
        failed = failed_check(value, whole=True) if stops_on_checks(run.options.stop_when) else None
        if failed is not None:  # stop_when="checks" and the whole answer's last field failed its check
            run.keep_partial(value)
            raise ChecksFailed(failed, value, run.function)
        if run.incomplete is not None and not run.allow_incomplete:
            run.keep_partial(value)
            raise IncompleteAnswerError(run.function, run.incomplete, value, facts.raw or "", facts.reply.finish)
        return value
    problem = run.call.problem() if empty else None
    if not cut and problem is None and empty and facts.provider is not None and not _returns_text(run):
        problem = "the model's answer was empty; BAML's parser would make a value of nothing"
    if not cut and problem is None:
        return value
    run.keep_partial(value)
    if problem is not None:
        raise BamlValidationError("", f"{run.function}: {problem}", facts.raw or "", "")
    raise _cut(run, facts.reply)


def _cut(run: Run, reply: Reply) -> BamlClientError:
    """A stream that stopped before the provider said the answer was done, as the error that says how."""
    how = reply.error or reply.cut_how or "the connection closed mid-stream"
    return BamlClientError(f"{run.function}: the stream ended before the model finished ({how}); "
                           "the partial result is kept")


def _return_type(run: Run) -> str:
    """The function's return type, as its BAML header writes it."""
    return run.returns.rsplit("->", 1)[-1].strip()


def _returns_text(run: Run) -> bool:
    """Whether the function returns a string, to which an empty answer is an answer (to a typed one it is not)."""
    return _return_type(run) in ("string", "string?", "")


def fail(run: Run, exc: BaseException) -> None:
    """End as an error; an answer that came whole but did not parse leaves what did as the partial."""
    facts = run.call.facts(exc)
    if not run.stream and run.partial is None and run.cancel_reason is None and facts.raw:
        with contextlib.suppress(Exception):  # nothing of it parses: no partial
            run.keep_partial(run.call.parse(facts.raw, True))
    run.finish(Status.ERROR, error=scrub(in_words(run, translate(run, exc))))


def in_words(run: Run, exc: BaseException) -> BaseException:
    """BAML's error as one readable message of the same class (``_readable``): a parse failure by its fields,
    a client error with an HTTP status only when a server answered."""
    facts = run.call.facts(exc)
    answered = not facts.attempts or facts.attempts[-1][2] is not None
    if isinstance(exc, ChecksFailed):  # BAML's own check result, not a parse failure
        return ChecksFailed(exc.failed, exc.value, run.function)
    if isinstance(exc, BamlValidationError):
        said = parse_failure(run.function, _return_type(run), str(exc.message), exc.raw_output or facts.raw)
        return readable(exc, said)
    if isinstance(exc, BamlClientError) and not isinstance(exc, (BamlTimeoutError, IncompleteAnswerError)):
        message = str(getattr(exc, "message", "") or exc)
        said = transport_problem(run.function, run.client or "?", message, answered)
        return readable(exc, said, http=answered)
    return readable(exc)


def translate(run: Run, exc: BaseException) -> BaseException:
    """An ending as the error that says what happened (BAML's own exception types)."""
    if run.cancel_reason == "stall":
        return BamlTimeoutError(run.client or "", f"{run.function}: no token for {run.options.idle_timeout:g} s "
                                                  "(idle_timeout); the partial is kept")
    if run.cancel_reason == "stop_when raised" and run.stop_error is not None:
        return run.stop_error  # the user's predicate failed: its own error, as if called directly
    if run.cancel_reason == "timeout":
        return BamlTimeoutError(run.client or "", f"{run.function} did not finish within {run.options.timeout:g} s")
    if run.cancel_reason is not None or isinstance(exc, (BamlAbortError, asyncio.CancelledError)):
        return exc if isinstance(exc, BamlAbortError) else BamlAbortError("cancelled")
    reply = run.call.facts(exc).reply
    if run.call.wire_streamed and not isinstance(exc, BamlClientError) and reply.cut_short:
        # A connection that closed mid-answer, whatever the parser made of the rest.
        return _cut(run, reply)
    if isinstance(exc, BamlClientHttpError):
        said = run.call.problem()
        if said is not None:  # a 200 that BAML could not read (Gemini's blocked prompt has no candidates)
            return BamlClientHttpError(exc.client_name, f"{run.function}: {said}", exc.status_code, "")
    if isinstance(exc, BamlValidationError):
        problem = run.call.problem()
        if problem is not None:  # say what the provider said, not only what the parser missed
            return BamlValidationError(exc.prompt, f"{run.function}: {problem}; BAML could not parse the answer",
                                       exc.raw_output, exc.detailed_message)
    return exc
