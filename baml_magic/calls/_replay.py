"""Record and replay through the session's response cache, inside a call's driver.

A call's key is the request BAML would send (``_cache.request_key``). A recorded answer is parsed
by the engine as a stream would bring it (partials at word ends, at the recorded pace or at once),
so views and stream readers see it grow; a miss in ``replay`` mode is an error that says how to record.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from baml_py.errors import BamlAbortError

from baml_magic.calls._cache import Answer, CacheMiss, request_key
from baml_magic.calls._media import summary
from baml_magic.calls._run import Run

REPLAY_SHARE, REPLAY_SECONDS = 0.1, 0.02  # a replay not at the recorded pace: a tenth of it, 20 ms at most
MISSING = object()  # no recorded answer: make the call


async def cache_key(run: Run) -> str | None:
    """The call's cache key, from the request the engine would send; None when it can't be built."""
    try:
        request = await run.call.request()
    except Exception:  # noqa: BLE001 - the real call will say what is wrong
        return None
    return request_key(run.function, run.returns, request)


async def lookup(run: Run, key: str) -> Any:
    """The recorded answer's value (replayed), or ``MISSING``; a miss in replay mode is a ``CacheMiss``."""
    cache = run.cache
    if cache is None or not cache.reads:
        return MISSING
    answer = await asyncio.to_thread(cache.store().get, key)
    if answer is not None:
        return await _replay(run, answer)
    cache.misses += 1
    if cache.mode == "replay":
        raise CacheMiss(f"{run.function}{_call_text(run.args)}: no recorded answer in {cache.path} (cache mode "
                        "replay); record it with %baml cache on")
    return MISSING


async def record(run: Run, key: str) -> None:
    """Keep the answer a call got (its raw text, usage, timing, who answered)."""
    cache, facts = run.cache, run.call.facts()
    if cache is None or not cache.writes or facts.raw is None:
        return
    answer = Answer(facts.raw, facts.usage.input_tokens, facts.usage.output_tokens, run.time_to_first_token,
                    time.monotonic() - run.start, facts.provider, facts.client or run.client, facts.model,
                    run.reasoning, facts.usage.reasoning_tokens)
    await asyncio.to_thread(cache.store().put, key, run.function, answer)
    cache.stored += 1


async def _replay(run: Run, answer: Answer) -> Any:
    """The recorded answer parsed by the engine: partials as a stream would bring them, then the value."""
    assert run.cache is not None
    run.cached = answer
    run.cache.hit(answer)
    if run.stream:
        cuts = _cuts(answer.raw)
        # At the recorded pace (first token, then evenly to the end), or at once: spread over a few
        # milliseconds, so a stream's reader and the live view still see the answer grow.
        first, span = (answer.first_token or 0.0, answer.duration) if run.cache.pace else \
            (0.0, min(REPLAY_SECONDS, REPLAY_SHARE * answer.duration))
        if answer.reasoning:  # the thinking came before the answer's first token
            run.take_reasoning(answer.reasoning)
        for i, end in enumerate(cuts):
            await _until(run, run.start + first + (span - first) * i / max(1, len(cuts) - 1))
            try:
                run.take_partial(run.call.parse(answer.raw[:end], True))
            except Exception:  # noqa: BLE001 - a prefix that does not parse yet is skipped, as in a stream
                continue
    elif run.cache.pace:  # in one piece, when the recorded call ended
        await _until(run, run.start + answer.duration)
    return run.call.parse(answer.raw, False)


async def _until(run: Run, due: float) -> None:
    """Wait until ``due`` (a monotonic time) in short sleeps; a cancellation ends the wait as an abort."""
    while time.monotonic() < due and run.cancel_reason is None:
        await asyncio.sleep(min(0.02, due - time.monotonic()))
    await asyncio.sleep(0)  # let a cancellation in
    if run.cancel_reason is not None:
        raise BamlAbortError("cancelled")


def _cuts(raw: str, steps: int = 24) -> list[int]:
    """Where a replayed answer is cut into partials: about ``steps`` word ends, then the whole."""
    ends = [i for i in range(1, len(raw)) if raw[i] in " \n,}]" and raw[i - 1] not in " \n"]
    stride = max(1, len(ends) // steps)
    return [*ends[stride - 1::stride], len(raw)]


def _call_text(args: dict[str, Any]) -> str:
    """``(topic='owls', n=3)`` for messages, media named by kind and size, each value kept short."""
    return "(" + ", ".join(f"{k}={summary(v)!r:.60}" for k, v in args.items()) + ")"
