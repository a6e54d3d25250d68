"""BamlFunction: a BAML function as a Python callable with a real signature and typed results."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import time
import types
import typing
from collections.abc import AsyncIterator, Iterable, Iterator, Sized
from typing import Any

from baml_py.errors import BamlError
from pydantic import PydanticUserError, TypeAdapter, ValidationError

from baml_magic import clients, codegen
from baml_magic.background import Background
from baml_magic.batch import MapProgress, MapResult, run_map
from baml_magic.display import make_view
from baml_magic.errors import ShortError, clean_message, interrupted
from baml_magic.project import Compiled, FunctionSpec
from baml_magic.redact import redact
from baml_magic.request_view import PromptView, RequestView, messages_of
from baml_magic.run import CallOptions, Run, short_error, type_builder
from baml_magic.session import Session


class RequestBuildError(ShortError):
    """BAML could not build the request (for example a template error)."""

_UNSET = object()


def _is_optional(annotation: Any) -> bool:
    return annotation is type(None) or type(None) in typing.get_args(annotation)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return inspect.formatannotation(annotation).replace("typing.", "").replace("_baml_magic_types_", "")


def _adapter(annotation: Any, module: str) -> TypeAdapter[Any]:
    """A validator for a parameter; forward references resolve in the generated types.

    A recursive alias (``type Tree = string | map<string, Tree>``) can't be built by pydantic from
    its expanded form: such a parameter is left to BAML's own checks at call time.
    """
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation, module=module)
        adapter.json_schema()  # builds the validator, which fails on a reference pydantic can't resolve
        return adapter
    except PydanticUserError:
        return TypeAdapter(Any)


def build_signature(spec: FunctionSpec) -> inspect.Signature:
    """Parameters as BAML declares them; trailing optional ones default to None."""
    required_after = {i for i, (_, ann) in enumerate(spec.params) if not _is_optional(ann)}
    last_required = max(required_after, default=-1)
    params = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ann,
                          default=None if i > last_required else inspect.Parameter.empty)
        for i, (name, ann) in enumerate(spec.params)
    ]
    return inspect.Signature(params, return_annotation=spec.returns)


def python_signature(spec: FunctionSpec) -> str:
    """``GenerateStory(prompt: str, n: int | None = None) -> Story``, short type names."""
    sig = build_signature(spec)
    parts = []
    for p in sig.parameters.values():
        text = f"{p.name}: {short_type(p.annotation)}"
        if p.default is not inspect.Parameter.empty:
            text += " = None"
        parts.append(text)
    return f"{spec.name}({', '.join(parts)}) -> {short_type(spec.returns)}"


def short_type(annotation: Any) -> str:
    """A type as a reader would write it: ``list[Story]``, ``Mood | None``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(short_type(a) for a in args)
    if origin in (list, typing.List):  # noqa: UP006 - the generator writes typing.List
        return f"list[{short_type(args[0])}]"
    if origin in (dict, typing.Dict):  # noqa: UP006
        return f"dict[{short_type(args[0])}, {short_type(args[1])}]"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if isinstance(annotation, type):
        return annotation.__name__
    return _type_name(annotation)


def docstring(spec: FunctionSpec) -> str:
    lines = [python_signature(spec), "", f"BAML: {spec.baml_signature}"]
    if spec.client:
        lines.append(f"Client: {spec.client}")
    lines.append(f"Defined in: {spec.where}")
    if spec.prompt:
        lines += ["", "Prompt:", *("    " + line for line in spec.prompt.splitlines())]
    return "\n".join(lines)


class BamlFunction:
    """A BAML function bound into the notebook.

    ``Fn(...)`` streams into a live view and returns the typed value; ``Fn.stream(...)``
    iterates typed partials; ``await Fn.aio(...)`` and ``Fn.astream(...)`` do the same in
    async code. An interrupt, ``break``, ``close()`` or a timeout aborts the HTTP request.
    """

    def __init__(self, spec: FunctionSpec, compiled: Compiled, session: Session,
                 options: CallOptions | None = None) -> None:
        self.spec = spec
        self._compiled = compiled
        self._session = session
        self.options = options or CallOptions()
        self.__name__ = self.__qualname__ = spec.name
        self.__signature__ = build_signature(spec)
        self.__doc__ = docstring(spec)
        self._adapters: dict[str, TypeAdapter[Any]] = {}

    # -- arguments -------------------------------------------------------------

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], CallOptions]:
        options = self.options
        for option in ("timeout", "tb"):
            if option in kwargs and option not in self.__signature__.parameters:
                options = dataclasses.replace(options, **{option: kwargs.pop(option)})
        params = self.__signature__.parameters
        for name in kwargs:
            if name not in params:
                close = difflib.get_close_matches(name, list(params), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; parameters: {', '.join(params) or 'none'}"
                raise TypeError(f"{self.spec.name}() got an unexpected keyword argument {name!r}{hint}")
        try:
            bound = self.__signature__.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.spec.name}(): {exc}") from None
        bound.apply_defaults()
        values = {}
        for name, ann in self.spec.params:
            value = bound.arguments.get(name)
            adapter = self._adapters.get(name)
            if adapter is None:
                adapter = self._adapters[name] = _adapter(ann, self._compiled.types.types.__name__)
            try:
                values[name] = adapter.validate_python(value)
            except ValidationError as exc:
                errors = exc.errors()
                where = ".".join(str(part) for part in errors[0]["loc"]) if errors and errors[0]["loc"] else ""
                detail = (f"{where}: " if where else "") + errors[0]["msg"] if errors else str(exc)
                raise TypeError(
                    f"{self.spec.name}() argument {name!r} must be {short_type(ann)}, got {value!r:.60}: {detail}"
                ) from None
        return values, options

    def _client(self, options: CallOptions) -> str | None:
        """The client this call uses: per-function option, then the session's, then the function's own."""
        return options.client or self._session.client_override or self.spec.client

    def _prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, sending: bool = True,
                 ) -> tuple[dict[str, Any], CallOptions, str | None, str | None]:
        """Arguments checked, options, the client in force and the override to send (if any).

        Only a call that sends a request needs the client's environment variables.
        """
        values, options = self._bind(args, kwargs)
        client = self._client(options)
        if client is not None and sending:
            clients.check_env(client, self._compiled.clients)
        override = client if client != self.spec.client else None
        return values, options, client, override

    def _start(self, args: tuple[Any, ...], kwargs: dict[str, Any], foreground: bool = True) -> Run:
        values, options, client, override = self._prepare(args, kwargs)
        run = Run(self.spec.name, values, self._compiled.runtime, self._compiled.types, client, override, options)
        self._session.record(run, foreground)
        return run.begin()

    def _http_request(self, args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool) -> Any:
        values, options, _, override = self._prepare(args, kwargs, sending=False)
        runtime = self._compiled.runtime
        env = {**clients.placeholders(self._compiled.clients), **os.environ}
        try:
            return runtime.build_request_sync(self.spec.name, values, runtime.create_context_manager(),
                                              type_builder(options.tb),
                                              clients.registry(override), env, stream)
        except BamlError as exc:
            raise RequestBuildError(redact(clean_message(str(exc)))) from None

    def prompt(self, *args: Any, **kwargs: Any) -> PromptView:
        """The rendered prompt for these arguments, as messages with roles; no LLM call."""
        request = self._http_request(args, kwargs, stream=False)
        return PromptView(self.spec.name, messages_of(RequestView.from_http(request).body))

    def request(self, *args: Any, **kwargs: Any) -> RequestView:
        """The HTTP request a call would send (method, url, headers, body); secrets redacted."""
        return RequestView.from_http(self._http_request(args, kwargs, stream=True))

    # -- calling ---------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = self._start(args, kwargs)
        view = make_view(self._session.settings.display, run)
        try:
            for _ in run.updates(self._session.refresh_interval):
                view.update(run)
        except KeyboardInterrupt:
            run.cancel()
            run.settle()
            view.finish(run)
            raise interrupted(f"{run.function} after {run.elapsed:.2f} s",
                              f"the partial is in {run.function}.last.partial") from None
        view.finish(run)
        return outcome(run)

    def start(self, *args: Any, **kwargs: Any) -> Background:
        """Run in the background: the cell finishes at once; the handle has cancel(), result(), done, partial."""
        return Background(self._start(args, kwargs, foreground=False), self._session.settings.display,
                          self._session.refresh_interval)

    def stream(self, *args: Any, **kwargs: Any) -> PartialStream:
        """An iterator (and context manager) of typed partials; ``.final`` once it ends."""
        return PartialStream(self._start(args, kwargs))

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        """Await the call; the live view updates while the event loop runs."""
        run = self._start(args, kwargs)
        view = make_view(self._session.settings.display, run)
        interval = self._session.refresh_interval
        shown = 0.0
        try:
            async for _ in run.async_updates():
                now = time.monotonic()
                if run.done or now - shown >= interval:
                    view.update(run)
                    shown = now
        except BaseException:
            run.cancel()
            run.settle()
            view.finish(run)
            raise
        view.finish(run)
        return outcome(run)

    def astream(self, *args: Any, **kwargs: Any) -> AsyncPartialStream:
        """An async iterator (and async context manager) of typed partials."""
        return AsyncPartialStream(self._start(args, kwargs))

    def map(self, inputs: Iterable[Any], concurrency: int = 8, on_error: str = "raise",
            timeout: float | None = None) -> list[Any]:
        """Call the function on every input, ``concurrency`` at a time; results in input order.

        An input is a dict of keyword arguments, a tuple of positional ones, or the value of the
        only parameter. ``on_error="return"`` puts each failure's exception in its slot instead of
        raising the first one. Whatever finished stays in ``Fn.last_map``, even after an interrupt.
        """
        fn = self.with_options(timeout=timeout) if timeout is not None else self
        total = len(inputs) if isinstance(inputs, Sized) else None
        state = MapResult(self.spec.name, total)
        self._session.last_map[self.spec.name] = state
        progress = MapProgress(state, self._session.settings.display)
        return run_map(lambda a, k: fn._start(a, k), list(self.__signature__.parameters), inputs, state,
                       concurrency, on_error, progress)

    def playground(self) -> Any:
        """The interactive playground widget for this function."""
        from baml_magic.playground import Playground

        return Playground(self.spec.name, self._session)

    @property
    def last_map(self) -> MapResult | None:
        """The last map of this function: every slot's result or error, and the counts."""
        return self._session.last_map.get(self.spec.name)

    def with_options(self, client: str | None = None, timeout: float | None = None, tb: Any = None) -> BamlFunction:
        """A copy of this function bound to another client, a deadline in seconds and/or a TypeBuilder."""
        options = dataclasses.replace(
            self.options,
            client=client if client is not None else self.options.client,
            timeout=timeout if timeout is not None else self.options.timeout,
            tb=tb if tb is not None else self.options.tb,
        )
        return BamlFunction(self.spec, self._compiled, self._session, options)

    def type_builder(self) -> Any:
        """A new TypeBuilder of this function's project (BAML's generated class) to extend ``@@dynamic`` types.

        Pass it per call (``Fn(..., tb=tb)``) or bind it (``Fn.with_options(tb=tb)``).
        """
        return codegen.type_builder_class(self._compiled.types, self._compiled.runtime)()

    @property
    def last(self) -> Run | None:
        """The last run of this function in this session (status, value, partial, usage, timing)."""
        return self._session.last.get(self.spec.name)

    def __repr__(self) -> str:
        return f"<BamlFunction {python_signature(self.spec)}>"


def outcome(run: Run) -> Any:
    """The run's value, or its error raised with a short message in IPython."""
    if run.error is None:
        return run.value
    error = run.error
    message = redact(short_error(error))
    try:
        error._render_traceback_ = lambda: [message]  # type: ignore[attr-defined]
    except AttributeError:
        pass
    raise error


class PartialStream(Iterator[Any]):
    """Typed partials of one call, newest first seen; leaving early aborts the request."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._seen = -1
        self._last: Any = _UNSET

    def __iter__(self) -> PartialStream:
        return self

    def __next__(self) -> Any:
        try:
            while True:
                self._seen = self.run.wait_news(self._seen)
                if self.run.partial is not None and self.run.partial is not self._last:
                    self._last = self.run.partial
                    return self._last
                if self.run.done:
                    if self.run.status == "error":
                        outcome(self.run)
                    raise StopIteration
        except KeyboardInterrupt:
            self.close()
            raise interrupted(f"{self.run.function} stream", f"the partial is in {self.run.function}.last.partial") \
                from None

    @property
    def final(self) -> Any:
        """The final typed value (waits for the end of the call; raises its error)."""
        self.run.wait()
        return outcome(self.run)

    def close(self) -> None:
        """Abort the request if it is still running; the partial stays in ``Fn.last``."""
        if not self.run.done:
            self.run.cancel()
            self.run.settle()

    def __enter__(self) -> PartialStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A `break` drops the loop's iterator: abort, and record it before the next line reads Fn.last.
        self.close()


class AsyncPartialStream(AsyncIterator[Any]):
    """The async twin of PartialStream."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._updates = run.async_updates()
        self._last: Any = _UNSET

    def __aiter__(self) -> AsyncPartialStream:
        return self

    async def __anext__(self) -> Any:
        try:
            async for _ in self._updates:
                if self.run.partial is not None and self.run.partial is not self._last:
                    self._last = self.run.partial
                    return self._last
            if self.run.status == "error":
                outcome(self.run)
            raise StopAsyncIteration
        except BaseException as exc:
            if not isinstance(exc, StopAsyncIteration):
                await self.aclose()
            raise

    @property
    def final(self) -> Any:
        self.run.wait()
        return outcome(self.run)

    async def aclose(self) -> None:
        if not self.run.done:
            self.run.cancel()
            self.run.settle()
        await self._updates.aclose()

    async def __aenter__(self) -> AsyncPartialStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not self.run.done:
            self.run.cancel()
