"""``Fn.map(..., engine="ray")``: the kernel's side. A caller actor pinned to each node (Ray's own placement
may put them all on one node that happens to look free), at most ``concurrency`` calls in flight across them,
one shared limiter, the results in input order in the map's slots, the progress view the local map draws.

A caller that dies is replaced by a new one (Ray's own actor restart would keep the function in its object store
for the restart, which Ray warns of), and its calls are sent again. An interrupt asks every caller to close its
open requests and waits for it, then ends the actors.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from baml_magic._errors import RemoteCallError, interrupted
from baml_magic._types import Status
from baml_magic.calls import POLL_SECONDS, checked_count
from baml_magic.cluster._caller import Caller, Row
from baml_magic.cluster._limiter import SharedPace
from baml_magic.cluster._ray import alive_nodes, connected
from baml_magic.history import RunRecord
from baml_magic.many import MapResult, RemoteRun, as_call, checked_map, first_failure, map_progress

TRIES = 3  # workers a call is sent to before its slot holds the last one's death
CANCEL_WAIT = 2.0  # seconds the callers get to close their requests after an interrupt


def ray_map(fn: Any, params: list[str], inputs: Iterable[Any], state: MapResult, *, concurrency: int,
            on_error: Literal["raise", "return"], display: str, refresh_hz: float, max_retry_wait: float,
            rpm: float | None, tpm: float | None, stream: bool, typed: Callable[[Any], Any],
            keep: Callable[[RunRecord, RemoteRun], None], workers: int | None = None) -> list[Any]:
    """Run ``fn`` (a bound function; it pickles as its recipe) on every input over the connected cluster."""
    checked_map(concurrency, on_error)
    ray = connected()
    pinned = importlib.import_module("ray.util.scheduling_strategies").NodeAffinitySchedulingStrategy
    nodes = alive_nodes(ray)
    count = checked_count(workers, "workers") if workers is not None else len(nodes)
    limiter = None
    if rpm is not None or tpm is not None:
        limiter = ray.remote(SharedPace).options(num_cpus=0).remote(rpm, tpm)
    lanes = max(1, math.ceil(concurrency / count))
    caller = ray.remote(Caller)

    def new_caller(i: int, *, soft: bool = False) -> Any:
        """A caller on node ``i`` (a replacement may go elsewhere: its node may be gone)."""
        return caller.options(num_cpus=0, max_concurrency=lanes + 2,
                              scheduling_strategy=pinned(nodes[i % len(nodes)], soft=soft),
                              ).remote(fn, limiter, tpm is not None, stream, max_retry_wait)

    actors = [new_caller(i) for i in range(count)]
    dead: list[Any] = []  # callers that died, replaced
    load = [0] * count
    pending: dict[Any, tuple[int, int, tuple[tuple[Any, ...], dict[str, Any]], int]] = {}
    items: Iterator[Any] = iter(inputs)
    exhausted = False
    first_error: BaseException | None = None
    first_failed = 0

    def send(index: int, call: tuple[tuple[Any, ...], dict[str, Any]], tries: int) -> None:
        actor = min(range(count), key=load.__getitem__)
        load[actor] += 1
        pending[actors[actor].call.remote(index, call[0], call[1])] = (index, actor, call, tries)
        state.states[index] = Status.RUNNING

    def fail(index: int, error: BaseException) -> None:
        nonlocal first_error, first_failed
        state.results[index], state.states[index] = error, Status.ERROR
        if first_error is None:
            first_error, first_failed = error, index

    def answered(index: int, row: Row, tries: int) -> None:
        run = row.run
        run.tries = tries
        if run.status in (Status.DONE, Status.STOPPED):
            run.value = typed(run.value)
        state.runs[index] = run
        state.ended_call(run)
        if row.record is not None:
            keep(row.record, run)
        if run.error is not None:
            fail(index, run.error)
        else:
            state.results[index], state.states[index] = run.value, run.status

    live = map_progress(state, display, refresh_hz).start()
    try:
        while True:
            stop = first_error is not None and on_error == "raise"
            while not exhausted and not stop and len(pending) < concurrency:
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                index = state.slot()
                try:
                    send(index, as_call(item, params, index, state.function), 1)
                except TypeError as exc:
                    fail(index, exc)
            if stop and pending:  # on_error="raise": the first error ends the map, as locally
                _close(ray, actors)
                break
            if not pending:
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
            if ready:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for ref in ready:
                index, actor, call, tries = pending.pop(ref)
                load[actor] -= 1
                try:
                    answered(index, ray.get(ref), tries)
                except ray.exceptions.RayTaskError as exc:  # our code raised in the worker
                    fail(index, RemoteCallError(type(exc.cause).__name__ if exc.cause else "RayTaskError",
                                                str(exc.cause or exc).splitlines()[0][:500]))
                except ray.exceptions.RayError as exc:  # the worker (or its node) died with the call
                    if isinstance(exc, ray.exceptions.RayActorError) and all(a is not actors[actor] for a in dead):
                        dead.append(actors[actor])  # a new caller in its place: on its node, if it is alive
                        actors[actor] = new_caller(actor, soft=True)
                    if tries >= TRIES:
                        fail(index, RemoteCallError(type(exc).__name__, f"{TRIES} workers died with this call; "
                                                    f"last: {str(exc).splitlines()[0][:300]}"))
                    else:
                        send(index, call, tries + 1)
    except KeyboardInterrupt:
        state.status = Status.CANCELLED
        _close(ray, actors)
        raise interrupted(f"{state.function}.map on Ray",
                          f"finished results are in {state.function}.last_map") from None
    finally:
        for index, _, _, _ in pending.values():
            if state.states[index] is Status.RUNNING:
                state.states[index] = Status.CANCELLED
        for actor in [*actors, *dead, *([limiter] if limiter is not None else [])]:
            ray.kill(actor)
        state.ended = time.monotonic()
        if state.status is Status.RUNNING:
            state.status = Status.ERROR if first_error is not None else Status.DONE
        live.stop()
    if first_error is not None and on_error == "raise":
        raise first_failure(first_error, first_failed, state.function)
    return list(state.results)


def _close(ray: Any, actors: list[Any]) -> None:
    """Every caller closes its open requests; wait (briefly) until they say they have."""
    asked = [actor.cancel.remote() for actor in actors]
    try:
        ray.wait(asked, num_returns=len(asked), timeout=CANCEL_WAIT)
    except KeyboardInterrupt:  # a second interrupt: the actors are ended without waiting
        pass
