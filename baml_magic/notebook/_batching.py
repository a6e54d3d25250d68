"""``Fn.batch`` and ``Fn.batch_resume``: every input checked and rendered by BAML before one batch is sent;
a handle whose answers the engine parses into the function's type."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any, cast

from baml_magic import _call_hooks as call_hooks
from baml_magic._errors import argument_errors, interrupted
from baml_magic._redact import secret_values
from baml_magic.calls import checked_timeout, sample_args
from baml_magic.history import RunRecord, scrubbed
from baml_magic.many import POLL_SECONDS, BatchItemError, BatchJob, Wire, as_call, submit
from baml_magic.notebook._bound import Bound
from baml_magic.observe import price_for


def send(fn: Bound, inputs: Iterable[Any], poll: float) -> BatchJob:
    """Render every input (nothing is sent when one is wrong), send them as one batch, return its handle."""
    fn.compiled.engine.require("batch")
    poll = checked_timeout(poll, "poll") or POLL_SECONDS
    name = fn.spec.name
    params = list(fn.__signature__.parameters)
    wire: Wire | None = None
    bodies: list[tuple[int, str]] = []
    sent: list[dict[str, Any]] = []  # each input's arguments, for the run history
    for index, item in enumerate(inputs):  # every input checked and rendered before anything is sent
        try:
            args, kwargs = as_call(item, params, index, name)
            request = fn._http_request(args, kwargs, stream=False, sending=True)
            sent.append(dict(fn.__signature__.bind_partial(*args, **kwargs).arguments))
        except TypeError as exc:
            raise TypeError(f"{name}.batch: input {index}: {exc}; nothing was sent") from None
        wire = wire or Wire.of(request, fn.client_in_force)
        bodies.append((index, request.body.text()))
    if wire is None:
        raise ValueError(f"{name}.batch: no inputs; nothing was sent")
    hint = fn._returns_hint
    if hint is not None:
        call_hooks.tell([call_hooks.Expected(wire.base, json.loads(body), *hint) for _, body in bodies])
    try:
        batch_id, total = submit(wire, bodies, name)
    except KeyboardInterrupt:
        raise interrupted(f"{name}.batch", "the batch may or may not have reached the provider: "
                          "see its batch list before sending it again") from None
    del bodies
    return _job(fn, batch_id, total, wire, poll, sent)


def resume(fn: Bound, batch_id: str, poll: float) -> BatchJob:
    """A handle on a batch this function sent before, from its id (another function's id is refused)."""
    fn.compiled.engine.require("batch")
    poll = checked_timeout(poll, "poll") or POLL_SECONDS
    if not isinstance(batch_id, str) or not batch_id.strip():
        raise TypeError(f"{fn.spec.name}.batch_resume: batch_id must be a batch's id (a string), got {batch_id!r:.40}")
    request = fn._http_request((), sample_args(fn), stream=False, sending=True)
    job = _job(fn, batch_id, 0, Wire.of(request, fn.client_in_force), poll)
    try:
        job.refresh()
    except BaseException:
        job.stop()  # no view or poller is left behind for a batch that can't be resumed
        raise
    return job


def _job(fn: Bound, batch_id: str, total: int, wire: Wire, poll: float,
         sent: list[dict[str, Any]] | None = None) -> BatchJob:
    engine, options, session = fn.compiled.engine, fn.options, fn._session
    client = fn.client_in_force
    override = client if client != fn.spec.client else None

    def parse(text: str) -> Any:
        return engine.parse(fn.spec.name, text, partial=False, client=override, tb=options.tb, env=dict(os.environ))

    def kept(job: BatchJob, model: str | None) -> None:
        """Each item's answer in the run history (its input when this kernel sent it), then the batch traced."""
        version, secrets = fn.version, secret_values()
        for row in job.rows():
            index = row["index"]
            given = sent[index] if sent is not None and index < len(sent) else {"batch": job.id, "item": index}
            session.history.keep(RunRecord(
                job.function, version, "batch", client, scrubbed(given, secrets, media=True),
                value=scrubbed(row["value"], secrets), status=row["status"], error=row["error"] or ""))
        traced(job, model)

    def traced(job: BatchJob, model: str | None) -> None:
        """The batch as a span, with a span for each item under it, once its answers are read."""
        tracing = session.tracing
        attributes = {"baml.function": job.function, "baml.batch.id": job.id, "baml.batch.status": job.status,
                      "gen_ai.usage.input_tokens": job.usage.input_tokens,
                      "gen_ai.usage.output_tokens": job.usage.output_tokens, "baml.cost_usd": job.cost}
        with tracing.group(f"baml.batch {job.function}", **attributes) as span:
            for value in job.rows():
                tracing.item(span, job.function, model, None if value["error"] is None else
                             BatchItemError(value["error"]))

    return BatchJob(fn.spec.name, batch_id, total, wire, parse, display=session.settings.display,
                    refresh_hz=session.settings.refresh_hz, poll=poll,
                    price_of=lambda model: price_for(model, session.settings.prices), on_results=kept,
                    allow_incomplete=options.allow_incomplete if options.allow_incomplete is not None
                    else session.settings.allow_incomplete)


class Batching:
    """``batch`` and ``batch_resume`` of a ``BamlFunction``."""

    @argument_errors
    def batch(self, inputs: Iterable[Any], *, poll: float = POLL_SECONDS) -> BatchJob:
        """Send every input through the client's provider batch API; returns a handle at once.

        BAML renders each request and parses each answer, so ``job.result()`` gives typed values
        in input order (half the price at the providers, hours instead of a kernel held open).
        ``job.cancel()`` cancels the batch at the provider; ``Fn.batch_resume(job.id)`` picks it up
        again, also in a new kernel. A provider without a batch API is a clear error: use ``map``.
        """
        return send(cast(Bound, self), inputs, poll)

    @argument_errors
    def batch_resume(self, batch_id: str, *, poll: float = POLL_SECONDS) -> BatchJob:
        """A handle on a batch sent before (by ``Fn.batch``, in this kernel or another), from its id."""
        return resume(cast(Bound, self), batch_id, poll)
