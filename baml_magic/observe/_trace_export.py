"""The trace exporter as a good citizen: it says what the collector took, never writes into a cell, never holds
the kernel.

OpenTelemetry's own loggers (the exporter's retries and failures) go to a log of their own, scrubbed of
secrets, that ``%baml trace info`` shows; they never reach whatever cell is running. Our exporter counts
what the collector accepted and what it refused, so ``%baml trace flush`` reports the truth (the SDK's
``force_flush`` returns True whatever happened). Every wait is bounded and interruptible: ``flush`` waits
at most ``FLUSH_SECONDS``, ``off`` and the kernel's exit at most ``LEAVE_SECONDS``; what was not sent by
then is reported as pending. Imported only when tracing is switched on.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from baml_magic._errors import interrupted
from baml_magic._redact import clean

FLUSH_SECONDS = 5.0  # the longest `%baml trace flush` waits for the collector
LEAVE_SECONDS = 1.5  # the longest `%baml trace off` and the kernel's exit wait
LOG_LINES = 50
LOG_LINE_MOST = 300


class ExportLog(logging.Handler):
    """OpenTelemetry's log lines, scrubbed, kept for ``%baml trace info`` instead of printed into a cell."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=LOG_LINES)

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a log line that can't be read is not worth an error
            line = clean(record.getMessage()).replace("\n", " ")
            self.lines.append(f"{record.levelname.lower()}: {line[:LOG_LINE_MOST]}")

    @property
    def last_problem(self) -> str | None:
        return next((line for line in reversed(self.lines) if not line.startswith("info")), None)


def export_log() -> ExportLog:
    """The log OpenTelemetry's loggers write to from now on (one per process); they no longer propagate."""
    logger = logging.getLogger("opentelemetry")
    for handler in logger.handlers:
        if isinstance(handler, ExportLog):
            return handler
    handler = ExportLog()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


class Delivery(SpanExporter):
    """The OTLP exporter, counting the spans the collector accepted and those it did not."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.sent = 0
        self.failed = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # noqa: BLE001 - the exporter's own failure counts as a failed export
            logging.getLogger("opentelemetry.baml_magic").warning("export failed: %s", exc)
            result = SpanExportResult.FAILURE
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.sent += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class Ended(SpanProcessor):
    """Counts the spans that ended (and so went to the exporter's queue)."""

    def __init__(self) -> None:
        self.count = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.count += 1


@dataclass(frozen=True)
class Report:
    """What a flush achieved: spans the collector took, spans it refused, spans not sent yet, and why."""

    sent: int
    failed: int
    pending: int
    reason: str | None = None
    endpoint: str = ""

    def line(self) -> str:
        where = f" to {self.endpoint}" if self.endpoint else ""
        parts = [f"{self.sent} span{'s' if self.sent != 1 else ''} sent{where}", f"{self.failed} failed",
                 f"{self.pending} pending"]
        text = " · ".join(parts)
        if (self.failed or self.pending) and self.reason:
            text += f" ({self.reason})"
        return text


class Exporting:
    """Our own tracer provider: OTLP/HTTP as the standard variables say, counted, quiet and bounded."""

    def __init__(self, log: ExportLog) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource

        self.log = log
        self.ended = Ended()
        self.delivery = Delivery(OTLPSpanExporter())
        service = os.environ.get("OTEL_SERVICE_NAME", "baml_magic")
        # Not the SDK's exit hook: it waits for every retry; ours waits LEAVE_SECONDS at most.
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}), shutdown_on_exit=False)
        self.provider.add_span_processor(self.ended)
        self.processor = BatchSpanProcessor(self.delivery)
        self.provider.add_span_processor(self.processor)
        atexit.register(self.leave)

    def report(self, endpoint: str = "") -> Report:
        sent, failed = self.delivery.sent, self.delivery.failed
        return Report(sent, failed, max(0, self.ended.count - sent - failed), self.log.last_problem, endpoint)

    def leave(self) -> None:
        """At the kernel's exit: what can be sent in LEAVE_SECONDS is, then the exporter stops retrying (the
        SDK's threads are daemons: the process does not wait for them)."""
        bounded(self.processor.force_flush, LEAVE_SECONDS)
        _quietly(self.delivery.shutdown)


def bounded(step: Any, seconds: float, what: str = "") -> bool:
    """Run ``step()`` in a thread of its own and wait at most ``seconds`` (True: it ended in time).

    The wait is in short slices so an interrupt lands at once: it ends as one line (``what``), the step going
    on in the background.
    """
    thread = threading.Thread(target=lambda: _quietly(step), name="baml_magic-trace-flush", daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds
    try:
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.05)
    except KeyboardInterrupt:
        raise interrupted(what or "sending spans", "spans not sent yet stay queued; %baml trace info "
                          "says what the collector answered") from None
    return not thread.is_alive()


def _quietly(step: Any) -> None:
    with contextlib.suppress(Exception):  # the exporter's failures are in its log and its counts
        step()
