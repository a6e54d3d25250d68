"""Fn.map: one function over many inputs, concurrently on BAML's async runtime, results in input order.

At most ``concurrency`` requests are in flight; the inputs are consumed lazily as slots free.
BAML's own retry_policy runs inside each call; on top of it, a 429 answer is waited out (as long as
it asks: ``retry-after-ms``, ``Retry-After``, ``x-ratelimit-reset-*``; else a doubling backoff with
jitter) and tried again; a server error (5xx, Anthropic's 529 overload, 408, 409) is tried again twice
with the same backoff, as the official OpenAI and Anthropic SDKs do. An interrupt aborts every request in
flight and keeps what finished in ``Fn.last_map``. The progress view is redrawn by the live driver.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from baml_magic._errors import RemoteCallError, interrupted, one_line_as, short_error
from baml_magic._redact import redact
from baml_magic._render import money
from baml_magic._types import Status
from baml_magic.calls import POLL_SECONDS, Run, checked_count
from baml_magic.many import _export as export
from baml_magic.many._ratelimit import Concurrency, Pace, Start
from baml_magic.many._remote import RemoteRun
from baml_magic.many._retries import Retries, rate_limited
from baml_magic.views import Live, ProgressView

Call = tuple[tuple[Any, ...], dict[str, Any]]


@dataclass
class MapResult:
    """Everything a map produced so far: a slot per input, in input order."""

    function: str
    total: int | None
    results: list[Any] = field(default_factory=list)
    states: list[Status] = field(default_factory=list)
    runs: list[Run | RemoteRun | None] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    status: Status = Status.RUNNING
    tokens_out: int = 0  # summed as each call ends, not recounted on every redraw
    estimated: bool = False  # some calls' counts are estimated from the text (the provider sent none)
    cost_of: Callable[[Run | RemoteRun], float | None] | None = field(default=None, repr=False)
    cost: float | None = None  # US dollars, when the calls' model has a price
    note: str = ""  # how the map is paced now (concurrency backed off after 429s)

    def slot(self) -> int:
        """A new slot for the next input (in input order)."""
        self.results.append(None)
        self.states.append(Status.PENDING)
        self.runs.append(None)
        return len(self.results) - 1

    def count(self, state: str) -> int:
        """How many slots are in ``status``."""
        return self.states.count(Status(state))

    @property
    def elapsed(self) -> float:
        """Seconds since the map started (until it ended)."""
        return (self.ended or time.monotonic()) - self.started

    def ended_call(self, run: Run | RemoteRun) -> None:
        """Add an ended call's tokens and cost to the totals."""
        usage = run.usage
        self.tokens_out += usage.output_tokens or 0
        self.estimated = self.estimated or usage.estimated
        spent = self.cost_of(run) if self.cost_of is not None else None
        if spent is not None:
            self.cost = (self.cost or 0.0) + spent

    @property
    def errors(self) -> dict[int, BaseException]:
        """The errors, by input index."""
        return {i: r for i, r in enumerate(self.results) if self.states[i] is Status.ERROR}

    @property
    def finished(self) -> int:
        """Whether the map has ended (every input answered, failed or cancelled)."""
        return self.count("done") + self.count("stopped") + self.count("error")

    def summary(self) -> str:
        """One line: done, failed and in flight, rate, tokens, cost, time."""
        done, failed, running = self.count("done") + self.count("stopped"), self.count("error"), self.count("running")
        total = f"/{self.total}" if self.total is not None else ""
        rate = done / self.elapsed if self.elapsed > 0 else 0.0
        tokens = f"{'~' if self.estimated else ''}{self.tokens_out} tokens out"
        return (f"{self.function}.map · {self.status} · {done}{total} done · {failed} failed · {running} in flight"
                f" · {rate:.1f}/s · {tokens}{' · ' + money(self.cost) if self.cost else ''}"
                f" · {self.elapsed:.1f} s{' · ' + self.note if self.note else ''}")

    def rows(self) -> list[dict[str, Any]]:
        """One row per input: index, status, value or error, tokens, latency."""
        return [export.row(i, str(state), result, run.usage if run is not None else None,
                           run.elapsed if run is not None else None)
                for i, (state, result, run) in enumerate(zip(self.states, self.results, self.runs, strict=True))]

    def to_json(self) -> str:
        """The rows (``rows()``) and the map's totals as JSON."""
        return export.to_json(self.rows(), function=self.function, status=str(self.status), elapsed=self.elapsed)

    def to_pandas(self) -> Any:
        """One row per input (needs pandas)."""
        return export.to_pandas(self.rows())

    def __repr__(self) -> str:
        return f"<MapResult {self.summary()}>"

    def _repr_html_(self) -> str:
        text = html.escape(self.summary())
        return f'<div class="baml-magic-map" data-status="{self.status}"><code>{text}</code></div>'


def map_progress(state: MapResult, display: str, refresh_hz: float) -> Live:
    """The progress view of a map (a bar and its summary line), redrawn by the live driver."""
    view = ProgressView(state.summary(), state.total, display)

    def draw() -> None:
        view.update(state.summary(), state.finished, state.total or len(state.states))

    def final() -> None:
        view.finish(state.summary(), state.finished, state.total or len(state.states),
                    {"text/plain": state.summary(), "text/html": state._repr_html_()})

    return Live(draw, final=final, finished=lambda: state.ended is not None, refresh_hz=min(refresh_hz, 10.0),
                name=f"{state.function}-map")


def run_map(start: Callable[[tuple[Any, ...], dict[str, Any]], Run], params: list[str], inputs: Iterable[Any],
            state: MapResult, *, concurrency: int, on_error: Literal["raise", "return"], display: str,
            refresh_hz: float, max_retry_wait: float = 60.0, max_rate_limit_waits: int = 3,
            progress: Callable[[MapResult], Live] | None = None, pace: Pace | None = None,
            estimate: Callable[[Call], int] | None = None, cached: Callable[[Call], bool] | None = None) -> list[Any]:
    """Drive the map from the calling thread; waits are short so an interrupt lands at once.

    ``progress`` makes the view (a progress bar by default; the evaluation grid draws its table).
    ``pace`` keeps requests and tokens per minute, with ``estimate(call)`` the tokens a call will send; a call
    ``cached(call)`` says the response cache answers sends nothing, so it is neither paced nor counted.
    Concurrency halves on a 429 answer and grows back as calls succeed.
    """
    checked_map(concurrency, on_error)
    items: Iterator[Any] = iter(inputs)
    exhausted = False
    finished = threading.Event()
    in_flight: dict[int, Run] = {}
    waiting: dict[int, tuple[float, Call]] = {}  # slot -> (when to try again, the call)
    held: list[tuple[int, Call]] = []  # taken from the inputs, waiting for the pace
    calls: dict[int, Call] = {}
    starts: dict[int, Start] = {}
    retries = Retries(state.function, max_retry_wait, max_rate_limit_waits)
    first_error: BaseException | None = None
    first_failed = 0  # the input it came from
    lanes = Concurrency(concurrency)

    def launch(index: int, call: Call) -> float:
        """Start the call now (0), or say how many seconds the pace wants it to wait."""
        if pace is not None and pace.limited and not (cached is not None and cached(call)):
            tokens = (estimate(call) if estimate is not None and pace.tpm is not None else 0) + \
                (pace.expected_output() if pace.tpm is not None else 0)
            wait = pace.wait(tokens)
            if wait > 0:
                return wait
            starts[index] = pace.started(tokens)
        run = start(call[0], dict(call[1]))
        run.listeners.append(lambda _: finished.set())
        state.runs[index] = run
        state.states[index] = Status.RUNNING
        in_flight[index] = run
        return 0.0

    def fail(index: int, error: BaseException) -> None:
        nonlocal first_error, first_failed
        state.results[index] = error
        state.states[index] = Status.ERROR
        if first_error is None:
            first_error, first_failed = error, index

    live = (progress(state) if progress is not None else map_progress(state, display, refresh_hz)).start()
    try:
        while True:
            finished.clear()  # before looking, so a run that ends while we look wakes the wait below
            nap = POLL_SECONDS
            now = time.monotonic()
            for index, (when, call) in list(waiting.items()):
                if when <= now and len(in_flight) < lanes.now:
                    wait = launch(index, call)
                    if wait:
                        nap = min(nap, wait)
                        break
                    del waiting[index]
            while held and len(in_flight) < lanes.now:
                wait = launch(*held[0])
                if wait:
                    nap = min(nap, wait)
                    break
                held.pop(0)
            while not held and not exhausted and len(in_flight) + len(waiting) < lanes.now and not (
                    first_error is not None and on_error == "raise"):
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                index = state.slot()
                try:
                    calls[index] = as_call(item, params, index, state.function)
                    wait = launch(index, calls[index])
                except TypeError as exc:
                    fail(index, exc)
                    continue
                if wait:
                    held.append((index, calls[index]))
                    nap = min(nap, wait)
            for index, run in list(in_flight.items()):
                if not run.done:
                    continue
                del in_flight[index]
                state.ended_call(run)
                usage = run.usage
                if pace is not None and index in starts:
                    pace.ended(starts.pop(index), usage.input_tokens, usage.output_tokens)
                if run.error is None:
                    lanes.succeeded()
                    state.results[index] = run.value
                    state.states[index] = Status.STOPPED if run.status == "stopped" else Status.DONE
                    continue
                if rate_limited(run.error):
                    lanes.rate_limited()
                after = retries.after(index, run.error, run.retry_after)
                if isinstance(after, BaseException):
                    fail(index, after)
                    continue
                state.states[index] = Status.PENDING
                waiting[index] = (time.monotonic() + after, calls[index])
            state.note = lanes.describe()
            stop = first_error is not None and on_error == "raise"
            if stop or (exhausted and not in_flight and not waiting and not held):
                break
            finished.wait(max(0.001, nap))
    except KeyboardInterrupt:
        state.status = Status.CANCELLED
        raise interrupted(f"{state.function}.map", f"finished results are in {state.function}.last_map") from None
    finally:
        for run in in_flight.values():
            run.cancel()
        for index, run in in_flight.items():
            run.settle()
            state.ended_call(run)
            state.states[index] = Status.CANCELLED
            state.results[index] = run.error
        for index in [*waiting, *(i for i, _ in held)]:
            state.states[index] = Status.CANCELLED
        state.ended = time.monotonic()
        if state.status is Status.RUNNING:
            state.status = Status.ERROR if first_error is not None else Status.DONE
        live.stop()
    if first_error is not None and on_error == "raise":
        raise first_failure(first_error, first_failed, state.function)
    return list(state.results)


def checked_map(concurrency: int, on_error: str) -> None:
    """A map's own options, checked before anything is sent."""
    checked_count(concurrency, "concurrency")
    if on_error not in ("raise", "return"):
        raise ValueError(f"on_error must be 'raise' or 'return', got {on_error!r:.40}")


def first_failure(error: BaseException, index: int, function: str) -> BaseException:
    """The error a map raises (``on_error="raise"``): one line naming the input it came from (a worker's error under
    its class there)."""
    name, _, line = redact(short_error(error)).splitlines()[0].partition(": ")
    one_line_as(error, error.kind if isinstance(error, RemoteCallError) else name,
                f"{line} (input {index}; every row's result or error is in {function}.last_map, and "
                f"on_error='return' keeps going)")
    return error


def as_call(item: Any, params: list[str], index: int, function: str) -> Call:
    """An input as a call: a dict of parameter names -> keywords, a tuple -> positional, else the only parameter."""
    if isinstance(item, dict) and item and set(item) <= set(params):
        return (), item
    if isinstance(item, tuple):
        return item, {}
    if len(params) == 1:
        return (item,), {}
    raise TypeError(f"{function}.map: input {index} is a {type(item).__name__}, but {function} takes "
                    f"{len(params)} parameters ({', '.join(params)}): pass dicts or tuples")
