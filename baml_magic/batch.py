"""Fn.map: one function over many inputs, concurrently on BAML's async runtime, results in input order.

At most ``concurrency`` requests are in flight; the inputs are consumed lazily as slots free.
BAML's own retry_policy runs inside each call; on top of it, a 429 answer that says
``Retry-After`` is waited out and tried again. An interrupt aborts every request in flight and
keeps what finished in ``Fn.last_map``.
"""

from __future__ import annotations

import email.utils
import html
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from baml_magic.errors import interrupted
from baml_magic.run import POLL_SECONDS, Run

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"


@dataclass
class MapResult:
    """Everything a map produced so far: a slot per input, in input order."""

    function: str
    total: int | None
    results: list[Any] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    runs: list[Run | None] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    status: str = "running"  # running | done | failed | cancelled
    tokens_out: int = 0  # summed as each call ends, not recounted on every redraw

    def slot(self) -> int:
        self.results.append(None)
        self.states.append(PENDING)
        self.runs.append(None)
        return len(self.results) - 1

    def count(self, state: str) -> int:
        return self.states.count(state)

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def ended_call(self, run: Run) -> None:
        self.tokens_out += run.usage["output_tokens"] or 0

    @property
    def errors(self) -> dict[int, BaseException]:
        return {i: r for i, r in enumerate(self.results) if self.states[i] == FAILED}

    def summary(self) -> str:
        done, failed, running = self.count(DONE), self.count(FAILED), self.count(RUNNING)
        total = f"/{self.total}" if self.total is not None else ""
        rate = done / self.elapsed if self.elapsed > 0 else 0.0
        return (f"{self.function}.map · {self.status} · {done}{total} done · {failed} failed · {running} in flight"
                f" · {rate:.1f}/s · {self.tokens_out} tokens out · {self.elapsed:.1f} s")

    def __repr__(self) -> str:
        return f"<MapResult {self.summary()}>"

    def _repr_html_(self) -> str:
        text = html.escape(self.summary())
        return f'<div class="baml-magic-map" data-status="{self.status}"><code>{text}</code></div>'


class MapProgress:
    """A progress bar (ipywidgets) in a notebook, a status line in a terminal; static at the end."""

    def __init__(self, state: MapResult, mode: str) -> None:
        from baml_magic.display import StatusLine, wants_widgets

        self.widget = None
        self.line: Any = None
        if wants_widgets(mode):
            import ipywidgets as widgets
            from IPython.display import display

            self.bar = widgets.IntProgress(value=0, min=0, max=max(1, state.total or 1))
            self.label = widgets.HTML(html.escape(state.summary()))
            self.widget = widgets.HBox([self.bar, self.label])
            self.widget.add_class("baml-magic-map-progress")
            bundle = {"text/plain": state.summary(), **(self.widget._repr_mimebundle_() or {})}
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.line = StatusLine(state.summary(), "text" if mode != "none" else "none")

    def update(self, state: MapResult) -> None:
        if self.widget is not None:
            finished = state.count(DONE) + state.count(FAILED)
            self.bar.max = max(1, state.total or len(state.states))
            self.bar.value = finished
            self.label.value = html.escape(state.summary())
        else:
            self.line.update(state.summary())

    def finish(self, state: MapResult) -> None:
        self.update(state)
        if self.widget is not None:
            self.handle.update({"text/plain": state.summary(), "text/html": state._repr_html_()}, raw=True)
            self.widget.close()
            self.bar.close()
            self.label.close()


def retry_after(run: Run) -> float | None:
    """Seconds a 429 answer asked to wait (``Retry-After`` as seconds or an HTTP date), if any."""
    status = getattr(run.error, "status_code", None)
    log = run.log
    if status != 429 or log is None:
        return None
    for call in reversed(log.calls):
        response = call.http_response
        headers = {k.lower(): v for k, v in (response.headers or {}).items()} if response is not None else {}
        value = headers.get("retry-after")
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    return None


def run_map(start: Callable[[tuple[Any, ...], dict[str, Any]], Run], params: list[str], inputs: Iterable[Any],
            state: MapResult, concurrency: int, on_error: str, progress: MapProgress,
            max_rate_limit_waits: int = 3, refresh: float = 0.1) -> list[Any]:
    """Drive the map from the calling thread; waits are short so an interrupt lands at once."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if on_error not in ("raise", "return"):
        raise ValueError("on_error must be 'raise' or 'return'")
    items: Iterator[Any] = iter(inputs)
    exhausted = False
    finished = threading.Event()
    in_flight: dict[int, Run] = {}
    waiting: dict[int, tuple[float, int, tuple[Any, ...], dict[str, Any]]] = {}  # slot -> (when, tries, call)
    calls: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    rate_waits: dict[int, int] = {}
    first_error: BaseException | None = None

    def launch(index: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        run = start(args, dict(kwargs))
        run.listeners.append(lambda _: finished.set())
        state.runs[index] = run
        state.states[index] = RUNNING
        in_flight[index] = run

    def fail(index: int, error: BaseException) -> None:
        nonlocal first_error
        state.results[index] = error
        state.states[index] = FAILED
        if first_error is None:
            first_error = error

    shown = 0.0
    try:
        while True:
            finished.clear()  # before looking, so a run that ends while we look wakes the wait below
            now = time.monotonic()
            for index, (when, _, args, kwargs) in list(waiting.items()):
                if when <= now and len(in_flight) < concurrency:
                    del waiting[index]
                    launch(index, args, kwargs)
            while not exhausted and len(in_flight) + len(waiting) < concurrency and not (
                    first_error is not None and on_error == "raise"):
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                index = state.slot()
                try:
                    args, kwargs = as_call(item, params, index, state.function)
                    calls[index] = (args, kwargs)
                    launch(index, args, kwargs)
                except TypeError as exc:
                    fail(index, exc)
            for index, run in list(in_flight.items()):
                if not run.done:
                    continue
                del in_flight[index]
                state.ended_call(run)
                if run.error is None:
                    state.results[index] = run.value
                    state.states[index] = DONE
                    continue
                wait = retry_after(run)
                if wait is not None and rate_waits.get(index, 0) < max_rate_limit_waits:
                    rate_waits[index] = rate_waits.get(index, 0) + 1
                    state.states[index] = PENDING
                    waiting[index] = (time.monotonic() + wait, rate_waits[index], *calls[index])
                    continue
                fail(index, run.error)
            stop = first_error is not None and on_error == "raise"
            if stop or (exhausted and not in_flight and not waiting):
                break
            if time.monotonic() - shown >= refresh:
                progress.update(state)
                shown = time.monotonic()
            finished.wait(POLL_SECONDS)
    except KeyboardInterrupt:
        state.status = CANCELLED
        raise interrupted(f"{state.function}.map", f"finished results are in {state.function}.last_map") from None
    finally:
        for run in in_flight.values():
            run.cancel()
        for index, run in in_flight.items():
            run.settle()
            state.ended_call(run)
            state.states[index] = CANCELLED
            state.results[index] = run.error
        for index in waiting:
            state.states[index] = CANCELLED
        state.ended = time.monotonic()
        if state.status == "running":
            state.status = FAILED if first_error is not None else DONE
        progress.finish(state)
    if first_error is not None and on_error == "raise":
        raise first_error
    return list(state.results)


def as_call(item: Any, params: list[str], index: int, function: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """An input as a call: a dict of parameter names -> keywords, a tuple -> positional, else the only parameter."""
    if isinstance(item, dict) and item and set(item) <= set(params):
        return (), item
    if isinstance(item, tuple):
        return item, {}
    if len(params) == 1:
        return (item,), {}
    raise TypeError(f"{function}.map: input {index} is a {type(item).__name__}, but {function} takes "
                    f"{len(params)} parameters ({', '.join(params)}): pass dicts or tuples")
