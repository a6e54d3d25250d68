"""``Fn.batch``: many calls through the provider's own batch API, built and parsed by BAML.

BAML renders each request (``build_request``); they go up as one batch (``_batch_wire``); the
answers come back in a file and BAML parses each (``parse_llm_response``) into the function's
type. A batch lives at the provider, so a handle can be made again from its id in a new kernel.
Requests carry their function and input's index as ``custom_id``, so results come back in input
order and a batch is never read as another function's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from baml_magic._errors import IncompleteAnswerError, argument_errors, interrupted, shown
from baml_magic._redact import scrub
from baml_magic._render import money
from baml_magic._types import Usage
from baml_magic.calls import checked_wait
from baml_magic.many import _export as export
from baml_magic.many._batch_wire import BatchError, BatchItemError, Progress, Wire, answers
from baml_magic.observe import Price, cost
from baml_magic.views import Live, ProgressView, wants_widgets

POLL_SECONDS = 1.0
BATCH_DISCOUNT = 0.5  # OpenAI's and Anthropic's batch APIs cost half their standard price

__all__ = ["BatchError", "BatchItemError", "BatchJob"]


class BatchJob:
    """A batch at the provider: ``status``, ``progress``, ``result()``, ``cancel()``; shown as a live progress line.

    ``Fn.batch_resume(job.id)`` makes a new handle for it, in this kernel or another.
    """

    def __init__(self, function: str, batch_id: str, total: int, wire: Wire, parse: Callable[[str], Any], *,
                 display: str, refresh_hz: float, poll: float = POLL_SECONDS,
                 price_of: Callable[[str | None], Price | None] = lambda _: None,
                 on_results: Callable[[BatchJob, str | None], None] = lambda job, model: None,
                 allow_incomplete: bool = False) -> None:
        self.function = function
        self.allow_incomplete = allow_incomplete  # accept an answer cut at the token limit or filtered
        self._on_results = on_results  # told once the answers are read (traces)
        self.id = batch_id
        self.wire = wire
        self.progress = Progress(total=total)
        self.started = time.monotonic()
        self._parse = parse
        self._poll = poll
        self._results: list[Any] | None = None
        self._price_of = price_of
        self.usage = Usage()  # the tokens the batch's answers report, once read
        self.cost: float | None = None  # at the providers' batch price (half the list price), when known
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        # A batch is a background job: in a terminal it prints nothing (a thread's lines would garble the prompt)
        self._view = ProgressView(self.summary(), total or None, display if wants_widgets(display) else "none")
        self._live = Live(self._draw, final=self._final, finished=lambda: self.done, refresh_hz=min(refresh_hz, 4.0),
                          name=f"{function}-batch").start()
        self._poller = threading.Thread(target=self._watch, name=f"baml_magic-batch-{batch_id}", daemon=True)
        self._poller.start()

    # -- state -----------------------------------------------------------------------

    @property
    def status(self) -> str:
        """The batch's status at the provider, as last polled (``validating``, ``in_progress``, ``ended``...)."""
        return self.progress.status

    @property
    def done(self) -> bool:
        """Whether the batch has ended at the provider (its results can be read)."""
        return self.progress.ended or self._error is not None

    def summary(self) -> str:
        """One line: status, items done and failed, tokens and cost at batch price."""
        p = self.progress
        finished = f"{p.succeeded + p.failed}/{p.total}" if p.total else "?"
        elapsed = time.monotonic() - self.started
        problem = f" · {self._error}" if self._error is not None else \
            f" · {'; '.join(p.errors)}" if p.errors else ""
        later = " (the provider counts results when the batch ends)" if p.counts_at_end and not p.ended else ""
        tokens = f" · {(self.usage.input_tokens or 0) + (self.usage.output_tokens or 0):,} tokens" \
            if self._results is not None else ""
        spent = f" · {money(self.cost)} at batch price (half of {money(2 * self.cost)})" \
            if self.cost is not None else ""
        return (f"{self.function}.batch {self.id} · {p.status} · {finished} done · {p.failed} failed{later}"
                f" · {elapsed:.0f} s{tokens}{spent}{problem}")

    def __repr__(self) -> str:
        return f"<BatchJob {self.summary()}>"

    def _repr_html_(self) -> str:
        import html

        return f'<div class="baml-magic-batch" data-status="{html.escape(self.status)}"><code>' \
               f"{html.escape(self.summary())}</code></div>"

    # -- polling -----------------------------------------------------------------------

    def refresh(self) -> Progress:
        """Ask the provider now."""
        progress = Progress.read(self.wire.style, self.wire.json("GET", self.wire.status_path(self.id)),
                                 self.progress.total)
        if progress.function is not None and progress.function != self.function:
            raise BatchError(f"batch {self.id} was sent by {progress.function}.batch, not {self.function}.batch: "
                             f"resume it with {progress.function}.batch_resume")
        self.progress = progress
        self._changed.set()
        return self.progress

    def stop(self) -> None:
        """Stop watching the batch here (it goes on at the provider) and close the view."""
        self._stop.set()
        self._live.stop()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                if self.refresh().ended:
                    return
            except BatchError as exc:
                self._error = exc
                return
            self._stop.wait(self._poll)

    def _draw(self) -> None:
        p = self.progress
        self._view.update(self.summary(), p.succeeded + p.failed, p.total)

    def _final(self) -> None:
        p = self.progress
        self._view.finish(self.summary(), p.succeeded + p.failed, p.total,
                          {"text/plain": self.summary(), "text/html": self._repr_html_()})

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (interruptibly) until the batch has ended; True if it has."""
        timeout = checked_wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self.done:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                self._changed.wait(0.05)
                self._changed.clear()
        except KeyboardInterrupt:
            raise interrupted(f"waiting for batch {self.id}", "the batch goes on at the provider: "
                              "job.result() again later, or job.cancel()") from None
        return True

    # -- results and cancelling --------------------------------------------------------------

    @argument_errors
    def result(self, timeout: float | None = None, *, on_error: Literal["raise", "return"] = "raise") -> list[Any]:
        """The typed values in input order once the batch has ended (errors raised, or in their slots)."""
        if not self.wait(timeout):
            raise TimeoutError(f"batch {self.id} still {self.status} after {timeout} s")
        if self._error is not None:
            raise self._error
        if self.progress.status == "failed" and self.progress.errors:
            raise BatchError(f"batch {self.id} failed at the provider: {'; '.join(self.progress.errors)}")
        if self._results is None:
            got = answers(self.wire, self.id, self.progress, self.function)
            if got.foreign and not got.texts:
                raise BatchError(f"batch {self.id} holds another function's requests, not {self.function}'s")
            self.usage = Usage(got.input_tokens, got.output_tokens)
            full = cost(self.usage, self._price_of(got.model))
            self.cost = None if full is None else full * BATCH_DISCOUNT
            results: list[Any] = []
            for index in range(self.progress.total):
                text, error = got.texts.get(index, (None, "not answered: the batch ended before this item ran"))
                if text is None:
                    results.append(BatchItemError(f"{self.function} batch item {index}: {error}"))
                    continue
                results.append(self._item(index, text, got.incomplete.get(index)))
            self._results = results
            self._on_results(self, got.model)
        if on_error == "raise":
            for value in self._results:
                if isinstance(value, BaseException):
                    raise shown(value)
        return list(self._results)

    def _item(self, index: int, text: str, incomplete: tuple[str, str | None] | None) -> Any:
        """One answer's typed value, or why it has none (an answer not whole is an error unless accepted)."""
        try:
            value = self._parse(text)
        except Exception as exc:  # noqa: BLE001 - a parse failure belongs to its item
            if incomplete is None:
                return scrub(exc)
            return BatchItemError(f"{self.function} batch item {index}: the answer was {incomplete[0]}, "
                                  "and BAML could not parse what came")
        if incomplete is not None and not self.allow_incomplete:
            return IncompleteAnswerError(f"{self.function} batch item {index}", incomplete[0], value, text,
                                         incomplete[1])
        return value

    def rows(self) -> list[dict[str, Any]]:
        """One row per input once the results are read (``result()``): index, status, value or error."""
        return [export.row(i, "error" if isinstance(v, BaseException) else "done", v)
                for i, v in enumerate(self._results or [])]

    def to_json(self) -> str:
        """The rows (``rows()``) and the batch's totals as JSON."""
        return export.to_json(self.rows(), function=self.function, id=self.id, status=self.status,
                              tokens_in=self.usage.input_tokens, tokens_out=self.usage.output_tokens, cost=self.cost)

    def to_pandas(self) -> Any:
        """One row per input (needs pandas); read the results first with ``result(on_error="return")``."""
        return export.to_pandas(self.rows())

    def cancel(self) -> None:
        """Cancel the batch at the provider; items that finished stay in ``result(on_error="return")``."""
        self.progress = Progress.read(self.wire.style, self.wire.json("POST", self.wire.status_path(self.id, "cancel")),
                                      self.progress.total)
        self._changed.set()
