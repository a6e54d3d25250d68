"""``Fn.map``: one function over many inputs, in this kernel (BAML's async runtime) or on a Ray cluster."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sized
from typing import Any, Literal, cast

from pydantic import TypeAdapter, ValidationError

from baml_magic._errors import argument_errors
from baml_magic._types import prompt_tokens
from baml_magic.calls import call_environment, request_key
from baml_magic.engine import Compiled, FunctionSpec
from baml_magic.history import RunRecord
from baml_magic.many import MapResult, Pace, RemoteRun, run_map
from baml_magic.notebook._bound import Bound
from baml_magic.notebook._session import Session

Call = tuple[tuple[Any, ...], dict[str, Any]]
ENGINES = ("local", "ray")


def _typed_by(returns: object) -> Callable[[Any], Any]:
    """Plain data back as the function's type, as this kernel's generated types make it (else left plain)."""
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, returns))
    except Exception:  # noqa: BLE001 - a type pydantic can't adapt: the plain data is the value
        return lambda value: value

    def typed(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError:
            return value

    return typed


def _dataset_rows(inputs: Any) -> tuple[Iterable[Any], int | None]:
    """A Ray Dataset's rows as inputs (each row a dict of keyword arguments), and how many there are."""
    if hasattr(inputs, "iter_rows") and hasattr(inputs, "count") and hasattr(inputs, "schema"):
        return (dict(row) for row in inputs.iter_rows()), int(inputs.count())
    return inputs, len(inputs) if isinstance(inputs, Sized) else None


class Mapping:
    """``map`` of a ``BamlFunction``."""

    spec: FunctionSpec
    compiled: Compiled
    _session: Session

    @argument_errors
    def map(self, inputs: Iterable[Any], concurrency: int = 8, *, on_error: Literal["raise", "return"] = "raise",
            timeout: float | None = None, idle_timeout: float | None = None, rpm: float | None = None,
            tpm: float | None = None, stop_when: Any = None, engine: Literal["local", "ray"] = "local",
            workers: int | None = None) -> list[Any]:
        """Call the function on every input, ``concurrency`` at a time; results in input order.

        An input is a dict of keyword arguments, a tuple of positional ones, or the value of the
        only parameter. ``on_error="return"`` puts each failure's exception in its slot instead of
        raising the first one. ``rpm`` / ``tpm`` keep to a provider's requests and tokens per minute
        (tokens estimated from each rendered request, corrected by the usage reported); a 429 halves
        the concurrency, which grows back as calls succeed. ``stop_when`` ends each call early, as ``Fn(...)``'s
        does. ``engine="ray"``: the calls run in Ray workers on the cluster ``ray.init()`` joined (a caller per
        node, or ``workers``; inputs may be a Ray Dataset), ``concurrency`` and the limits for the whole cluster.
        Whatever finished stays in ``Fn.last_map``, even after an interrupt.
        """
        if engine not in ENGINES:
            raise ValueError(f"engine must be 'local' or 'ray', got {engine!r:.40}")
        fn = cast(Bound, self).with_options(timeout=timeout, idle_timeout=idle_timeout, stop_when=stop_when)
        session, name = self._session, self.spec.name
        inputs, total = _dataset_rows(inputs)
        state = MapResult(name, total, cost_of=session.cost_of)
        session.last_map[name] = state
        streaming = fn.options.idle_timeout is not None  # only a stream shows when tokens stop coming
        params = list(fn.__signature__.parameters)
        settings = session.settings
        with session.tracing.group(f"baml.map {name}", **{"baml.map.inputs": total, "baml.map.engine": engine}):
            if engine == "ray":
                from baml_magic.cluster import ray_map

                return ray_map(fn, params, inputs, state, concurrency=concurrency, on_error=on_error,
                               display=settings.display, refresh_hz=settings.refresh_hz,
                               max_retry_wait=settings.max_retry_wait, rpm=rpm, tpm=tpm, stream=streaming,
                               typed=_typed_by(self.spec.returns), keep=self._keep, workers=workers)
            env = call_environment()  # one environment for every call of the map
            return run_map(lambda a, k: fn._open_run(a, k, stream=streaming, env=env, kept="map"), params, inputs,
                           state, concurrency=concurrency, on_error=on_error, display=settings.display,
                           refresh_hz=settings.refresh_hz, max_retry_wait=settings.max_retry_wait,
                           pace=Pace(rpm, tpm), estimate=self._estimate, cached=self._cached_by(fn))

    def _estimate(self, call: Call) -> int:
        """The input tokens a call will send (its rendered request's)."""
        request = cast(Bound, self)._http_request(call[0], dict(call[1]), stream=False)
        return prompt_tokens(request.body.json())

    def _cached_by(self, fn: Bound) -> Callable[[Call], bool]:
        """Whether the response cache answers a call (so it is neither paced nor counted)."""
        cache = self._session.cache

        def cached(call: Call) -> bool:
            if not cache.reads:
                return False
            request = fn._http_request(call[0], dict(call[1]), stream=False)
            return cache.holds(request_key(self.spec.name, self.spec.baml_signature, request))

        return cached

    def _keep(self, record: RunRecord, run: RemoteRun) -> None:
        """A worker's record of a call, kept in this session's run history with its cost priced here."""
        if self._session.history.limit > 0:
            self._session.history.later(lambda: dataclasses.replace(record, cost=self._session.cost_of(run)))
