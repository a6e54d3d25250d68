"""The worker's side of a map on a cluster: a Ray actor that holds one function (compiled once in its
process) and makes its calls, several at a time, paced by the shared limiter, tried again as a local map
tries them, and closed at once when the kernel says stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from baml_magic._errors import RemoteCallError, short_error
from baml_magic._redact import redact
from baml_magic._types import Status, prompt_tokens
from baml_magic.calls import Run
from baml_magic.cluster._ray import node_id, ray_module
from baml_magic.engine import FunctionSpec
from baml_magic.history import RunRecord, from_run
from baml_magic.many import RemoteRun, Retries, plain


class Traveller(Protocol):
    """What a worker asks of the bound function it was sent."""

    spec: FunctionSpec

    @property
    def version(self) -> str: ...

    def _open_run(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, foreground: bool = True,
                  stream: bool | None = True, env: dict[str, str] | None = None, kept: str | None = "call") -> Run: ...

    def _http_request(self, args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool, *,
                      sending: bool = False) -> Any: ...

    def _cached_by(self, fn: Any) -> Callable[[tuple[tuple[Any, ...], dict[str, Any]]], bool]: ...


@dataclass
class Row:
    """One input's answer, as the worker sends it back: plain data, no runtime object."""

    index: int
    run: RemoteRun
    record: RunRecord | None


def remote_error(error: BaseException) -> RemoteCallError:
    """A worker's error as one line that travels (its class name and message, scrubbed)."""
    name, _, line = redact(short_error(error)).splitlines()[0].partition(": ")
    return RemoteCallError(name, line[:500], getattr(error, "status_code", None))


class Caller:
    """Calls of one function in a worker process (a threaded Ray actor: a call per thread)."""

    def __init__(self, fn: Traveller, limiter: Any, counts_tokens: bool, stream: bool, max_retry_wait: float) -> None:
        self.fn, self.limiter, self.counts_tokens, self.stream = fn, limiter, counts_tokens, stream
        self.cached = fn._cached_by(fn)  # a call the response cache answers sends nothing: it is not paced
        self.retries = Retries(fn.spec.name, max_retry_wait)
        self.open: dict[int, Run] = {}
        self.stopping = threading.Event()
        self.node = node_id()

    def where(self) -> tuple[str, int]:
        """This worker's node id and process id."""
        import os

        return self.node, os.getpid()

    def _ticket(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
        """Wait for the shared pace; the ticket of the start it granted (None: no limit, or stopping)."""
        if self.limiter is None or self.cached((args, kwargs)):
            return None
        tokens = prompt_tokens(self.fn._http_request(args, dict(kwargs), stream=False).body.json()) \
            if self.counts_tokens else 0
        ray = ray_module()
        while not self.stopping.is_set():
            wait, ticket = ray.get(self.limiter.take.remote(tokens))
            if wait <= 0:
                return int(ticket)
            self.stopping.wait(min(wait, 0.5))
        return None

    def call(self, index: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Row:
        """Make input ``index``'s call (tried again on a 429 or a server error, as a local map does)."""
        while True:
            ticket = self._ticket(args, kwargs)
            if self.stopping.is_set():
                return Row(index, RemoteRun(self.fn.spec.name, dict(kwargs), Status.CANCELLED, node=self.node), None)
            try:
                run = self.fn._open_run(args, dict(kwargs), foreground=False, stream=self.stream, kept=None)
            except Exception as exc:  # noqa: BLE001 - the input's own error (an argument, a missing variable)
                error = remote_error(exc)
                return Row(index, RemoteRun(self.fn.spec.name, dict(kwargs), Status.ERROR, error=error,
                                            node=self.node), None)
            self.open[index] = run
            try:
                run.wait()
            finally:
                self.open.pop(index, None)
            usage = run.usage
            if ticket is not None:
                self.limiter.ended.remote(ticket, usage.input_tokens, usage.output_tokens)
            if run.error is not None and not self.stopping.is_set():
                after = self.retries.after(index, run.error, run.retry_after)
                if not isinstance(after, BaseException):
                    self.stopping.wait(after)
                    continue
                return self._row(index, run, after)
            return self._row(index, run, run.error)

    def _row(self, index: int, run: Run, error: BaseException | None) -> Row:
        value = run.value if run.status in (Status.DONE, Status.STOPPED) else None
        remote = RemoteRun(run.function, dict(run.args), Status(run.status), plain(value),
                           remote_error(error) if error is not None else None, run.usage, run.elapsed,
                           run.model, run.saved, self.node)
        return Row(index, remote, from_run(run, self.fn.version, "map", None))

    def cancel(self) -> int:
        """Close every open request now (and start no other); how many were open."""
        self.stopping.set()
        runs = list(self.open.values())
        for run in runs:
            run.cancel()
        deadline = time.monotonic() + 1.0
        for run in runs:
            run.wait(max(0.0, deadline - time.monotonic()))
        return len(runs)
