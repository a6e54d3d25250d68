"""OpenTelemetry spans for every call, following the GenAI semantic conventions, streamed calls included.

One CLIENT span per call, named ``{operation} {model}`` (``chat gpt-4o-mini``), timed from when the call
was made to when it ended; its parent is whatever span was current when the call was made (a map's,
a grid's, a batch's, or the user's own). The span is written whole once the call has ended (about
35 µs, the OpenTelemetry SDK's share included) by a writer thread, in bursts, so neither the caller
nor the worker waits for it. Attributes: ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model`` / ``gen_ai.response.model``, the request's
sampling settings, ``gen_ai.usage.*`` (the thinking's tokens as ``gen_ai.usage.reasoning.output_tokens``),
``gen_ai.response.finish_reasons``, ``error.type``; our own under ``baml.*`` (function, client, cost, cache,
attempts, the thinking's length and time to first thought). First thought and first token are events. Prompt
and answer content only when asked (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` or
``%baml trace on --content``), scrubbed of secrets like every other output.

OpenTelemetry is imported only when tracing is switched on: off costs one boolean test per call.
An existing tracer provider is used as it is; otherwise one is made that exports over OTLP/HTTP,
configured by the standard ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_SERVICE_NAME`` variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from baml_magic._errors import BamlMagicError, short_error
from baml_magic._redact import redact, secret_values
from baml_magic._types import Status
from baml_magic.calls import Run
from baml_magic.wire import Facts, messages_of

CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
WRITE_EVERY = 0.05  # seconds between the writer's bursts
# BAML's provider names as OpenTelemetry's well-known gen_ai.provider.name values (others as BAML names them)
PROVIDERS = {"openai": "openai", "openai-responses": "openai", "azure-openai": "azure.ai.openai",
             "anthropic": "anthropic", "google-ai": "gcp.gemini", "vertex-ai": "gcp.vertex_ai",
             "aws-bedrock": "aws.bedrock"}


class TracingUnavailable(BamlMagicError, ImportError):
    """OpenTelemetry is not installed."""


class Tracing:
    """The session's tracing: off, or on with a tracer from the process's (or our own) tracer provider."""

    def __init__(self) -> None:
        self.enabled = False
        self.content = os.environ.get(CONTENT_VARIABLE, "").lower() == "true"
        self.provider: Any = None
        self.own_provider = False  # made here (and so flushed here), not the user's
        self._tracer: Any = None
        self.spans = 0
        self._pending: queue.Queue[tuple[Run, Facts, Any, Any]] = queue.Queue()  # ended calls, their spans to write
        self._writer: threading.Thread | None = None
        self._following: set[Run] = set()  # calls whose spans are not queued yet
        self.exporting: Any = None  # our own provider's exporting (None: the process's provider)
        self.log: Any = None  # OpenTelemetry's log lines, once tracing started

    def start(self, *, content: bool | None = None) -> None:
        """Switch tracing on (importing OpenTelemetry now); ``content``: record prompts and answers."""
        try:
            from opentelemetry import trace

            from baml_magic.observe import _trace_export as export
        except ImportError:
            raise TracingUnavailable("tracing needs OpenTelemetry: pip install opentelemetry-sdk "
                                     "opentelemetry-exporter-otlp-proto-http (the package's otel extra)") from None
        if content is not None:
            self.content = content
        self.log = export.export_log()  # OpenTelemetry's own lines: kept for `info`, never printed into a cell
        if self.provider is None:
            current = trace.get_tracer_provider()
            if type(current).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
                self.exporting = export.Exporting(self.log)
                current, self.own_provider = self.exporting.provider, True
            self.provider = current
        self._tracer = self.provider.get_tracer("baml_magic")
        self.enabled = True

    def stop(self) -> str:
        """Switch tracing off; what was recorded is sent first, waiting a second or two at most."""
        from baml_magic.observe._trace_export import LEAVE_SECONDS

        self.enabled = False
        return self.flush(LEAVE_SECONDS)

    def flush(self, seconds: float | None = None) -> str:
        """Send the spans recorded so far, waiting ``seconds`` at most; what the collector took, as one line."""
        from baml_magic.observe._trace_export import FLUSH_SECONDS, bounded

        seconds = FLUSH_SECONDS if seconds is None else seconds
        deadline = time.monotonic() + seconds
        # A call that has ended queues its span from its own thread: wait for those (the caller may be ahead).
        bounded(lambda: self._queued(deadline), seconds, "%baml trace flush")
        flush = getattr(self.provider, "force_flush", None)
        in_time = flush is None or bounded(flush, max(0.0, deadline - time.monotonic()), "%baml trace flush")
        if self.exporting is not None:
            return str(self.exporting.report(redact(self.endpoint())).line())
        return "spans handed to the process's tracer provider" + ("" if in_time else " (it is still sending)")

    def _queued(self, deadline: float) -> None:
        while time.monotonic() < deadline and (any(r.end is not None for r in list(self._following))
                                               or self._pending.unfinished_tasks):
            time.sleep(0.005)

    @staticmethod
    def endpoint() -> str:
        return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or \
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318 (OTLP/HTTP default)"

    def describe(self) -> list[list[str]]:
        """``%baml trace info``: whether it is on, where spans go, what the collector took, its last words."""
        provider = "none yet" if self.provider is None else \
            f"baml_magic's own, exporting to {redact(self.endpoint())}" if self.own_provider else \
            f"the process's ({type(self.provider).__name__})"
        rows = [["tracing", "on" if self.enabled else "off"], ["tracer provider", provider],
                ["content", "recorded (scrubbed of secrets)" if self.content else f"not recorded ({CONTENT_VARIABLE})"],
                ["spans this session", str(self.spans)]]
        if self.exporting is not None:
            rows.append(["delivery", self.exporting.report().line()])
        if self.log is not None and self.log.lines:
            rows.append(["exporter log", "\n".join(list(self.log.lines)[-5:])])
        return rows

    # -- spans ---------------------------------------------------------------------------

    def follow(self, run: Run, cost_of: Any) -> None:
        """A span for this call, written once it has ended (its parent: the span current on this thread now)."""
        from opentelemetry import context

        parent = context.get_current()
        self.spans += 1
        self._following.add(run)
        run.listeners.append(lambda ended: self._later(ended, parent, cost_of))

    def _later(self, run: Run, parent: Any, cost_of: Any) -> None:
        """Leave the span to the writer thread: the call's own threads (the caller's, the worker's) go on."""
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._drain, name="baml_magic-trace", daemon=True)
            self._writer.start()
        # The facts as they are now: the session lets go of a run's raw answer when the next call starts
        self._pending.put((run, run.facts, parent, cost_of))
        self._following.discard(run)

    def _drain(self) -> None:
        """Write the waiting spans in bursts (a thread switch per span would cost the calls more than the span)."""
        while True:
            batch = [self._pending.get()]
            time.sleep(WRITE_EVERY)
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self._pending.get_nowait())
            for item in batch:
                _safely(self._write, *item)
                self._pending.task_done()

    def _write(self, run: Run, facts: Facts, parent: Any, cost_of: Any) -> None:
        from opentelemetry import trace

        span = self._tracer.start_span(f"chat {facts.model or facts.reply.model or 'unknown'}", context=parent,
                                       kind=trace.SpanKind.CLIENT, start_time=int(run.started_at * 1e9),
                                       attributes=_attributes(run, facts, cost_of(run)))
        _end(span, run, facts, self.content)

    @contextlib.contextmanager
    def group(self, name: str, **attributes: Any) -> Iterator[Any]:
        """A parent span for many calls (a map, a grid, a batch): current on this thread while they start."""
        if not self.enabled:
            yield None
            return
        from opentelemetry import trace

        with self._tracer.start_as_current_span(name, kind=trace.SpanKind.INTERNAL,
                                                attributes=_clean(attributes)) as span:
            self.spans += 1
            yield span

    def item(self, parent: Any, function: str, model: str | None, failed: BaseException | None) -> None:
        """A span for one item of a batch, under the batch's span."""
        if not self.enabled or parent is None:
            return
        from opentelemetry import trace

        context = trace.set_span_in_context(parent)
        with self._tracer.start_as_current_span(f"chat {model or 'batch'}", context=context,
                                                kind=trace.SpanKind.CLIENT) as span:
            span.set_attributes(_clean({"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                                        "baml.function": function, "baml.batch": True}))
            if failed is not None:
                _fail(span, failed)
            self.spans += 1


def _safely(step: Any, *args: Any) -> None:
    with contextlib.suppress(Exception):  # a span that can't be finished never breaks the call it traces
        step(*args)


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes OpenTelemetry takes (no None), every text scrubbed of secrets (read once for them all)."""
    values = secret_values()
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, str):
            value = redact(value, values)
        elif isinstance(value, (list, tuple)):
            value = [redact(v, values) if isinstance(v, str) else v for v in value]
        out[key] = value
    return out


def _fail(span: Any, error: BaseException) -> None:
    from opentelemetry.trace import Status as SpanStatus
    from opentelemetry.trace import StatusCode

    span.set_attribute("error.type", type(error).__name__)
    span.set_status(SpanStatus(StatusCode.ERROR, redact(short_error(error))[:500]))


def _ns(run: Run, monotonic: float) -> int:
    return int((run.started_at + (monotonic - run.start)) * 1e9)


def _attributes(run: Run, facts: Facts, cost: float | None) -> dict[str, Any]:
    """A call's span attributes: the conventions' names, then ours (none of them free text: no secret can be
    in them, so they are not scrubbed; the error's words and the content are)."""
    usage = run.usage
    found = {
        "gen_ai.operation.name": "chat", "baml.function": run.function,
        "gen_ai.provider.name": PROVIDERS.get(facts.provider or "", facts.provider),
        "gen_ai.request.model": facts.model, "gen_ai.response.model": facts.reply.model,
        "gen_ai.usage.input_tokens": usage.input_tokens, "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cached_input_tokens,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning_tokens,
        "gen_ai.response.finish_reasons": [facts.reply.finish] if facts.reply.finish else
        ["error"] if run.status in (Status.CANCELLED, Status.ERROR) else None,
        "gen_ai.request.stream": run.stream, "gen_ai.prompt.name": run.function,
        "gen_ai.response.time_to_first_chunk": run.time_to_first_token if run.stream else None,
        "baml.client": facts.client or run.client, "baml.status": run.status.value, "baml.cost_usd": cost,
        "baml.cached": run.cached is not None, "baml.usage.estimated": usage.estimated or None,
        "baml.stream": run.stream, "baml.incomplete": run.incomplete,
        "baml.reasoning.length": len(run.reasoning) if run.reasoning else None,
        "baml.time_to_first_thought_s": run.time_to_first_thought,
    }
    for key, value in facts.params.items():
        if isinstance(value, (int, float, str)):
            found[f"gen_ai.request.{'max_tokens' if key == 'max_completion_tokens' else key}"] = value
    if run.status is Status.CANCELLED:
        found["baml.cancelled"] = True
        found["baml.partial.length"] = len(str(run.partial)) if run.partial is not None else 0
    return {k: v for k, v in found.items() if v is not None}


def _end(span: Any, run: Run, facts: Facts, content: bool) -> None:
    if run.first_thought is not None:
        span.add_event("baml.first_thought", timestamp=_ns(run, run.first_thought))
    if run.first_partial is not None:
        span.add_event("gen_ai.first_token", timestamp=_ns(run, run.first_partial),
                       attributes={"baml.time_to_first_token_s": run.time_to_first_token or 0.0})
    if len(facts.attempts) > 1:  # a retry_policy's or fallback's attempts, inside this one call's span
        for client, provider, status in facts.attempts:
            span.add_event("baml.attempt", attributes={k: v for k, v in (
                ("baml.client", client), ("gen_ai.provider.name", PROVIDERS.get(provider, provider)),
                ("http.response.status_code", status)) if v is not None})
    if content and facts.request:
        secrets = secret_values()
        with contextlib.suppress(ValueError):
            messages = [{"role": m.role, "content": m.content} for m in messages_of(json.loads(facts.request))]
            span.set_attribute("gen_ai.input.messages", redact(json.dumps(messages), secrets))
        if facts.raw or run.reasoning:  # the conventions' output message: its parts, the thinking first
            parts = [{"type": kind, "content": text} for kind, text in (("reasoning", run.reasoning),
                                                                          ("text", facts.raw)) if text]
            message = {"role": "assistant", "parts": parts, "finish_reason": facts.reply.finish or "error"}
            span.set_attribute("gen_ai.output.messages", redact(json.dumps([message]), secrets))
        if run.status is Status.DONE:  # the typed result, where Phoenix (OpenInference) shows it
            span.set_attributes({"output.value": redact(_as_json(run.value), secrets),
                                 "output.mime_type": "application/json"})
    if run.status is Status.CANCELLED:
        span.add_event("baml.cancelled")
    elif run.error is not None:
        _fail(span, run.error)
    span.end(end_time=_ns(run, run.end or time.monotonic()))


def _as_json(value: Any) -> str:
    dump = getattr(value, "model_dump", None)
    return json.dumps(dump(mode="json") if callable(dump) else value, default=str)
