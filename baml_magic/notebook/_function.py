"""BamlFunction: a BAML function as a Python callable, and its calling styles."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import TYPE_CHECKING, Any

from baml_magic import _call_hooks as call_hooks
from baml_magic._errors import argument_errors, interrupted, one_line, one_line_as, outcome
from baml_magic.calls import (
    ASYNC_POLL_SECONDS,
    Arguments,
    AsyncPartialStream,
    CallOptions,
    PartialStream,
    PromptView,
    RequestView,
    Run,
    begin_run,
    build_request,
    can_run_here,
    check_env,
    docstring,
    python_signature,
    run_here,
)
from baml_magic.engine import Compiled, FunctionSpec
from baml_magic.many import MapResult
from baml_magic.notebook import _clients as clients
from baml_magic.notebook import _tests_made as made
from baml_magic.notebook._batching import Batching
from baml_magic.notebook._evaluating import Evaluating
from baml_magic.notebook._mapping import Mapping
from baml_magic.notebook._portable import Recipe, recipe_of, worker_parts
from baml_magic.notebook._session import Session
from baml_magic.views import Background, Live, NullView, View, make_view
from baml_magic.wire import messages_of

if TYPE_CHECKING:  # the playground module builds on this one
    from baml_magic.notebook._playground import Playground

# Keywords a call takes besides the function's own parameters.
_CALL_OPTIONS = ("timeout", "idle_timeout", "tb", "stop_when")


_PLAIN_FORMAT = re.compile(r"ctx\.output_format\s*(\(\s*\))?\s*\}\}")  # BAML's format, as BAML writes it


class BamlFunction(Evaluating, Batching, Mapping):
    """A BAML function bound into the notebook.

    ``Fn(...)`` streams into a live view and returns the typed value; ``Fn.stream(...)``
    iterates typed partials; ``await Fn.aio(...)`` and ``Fn.astream(...)`` do the same in
    async code. An interrupt, ``break``, ``close()`` or a timeout aborts the HTTP request.
    """

    def __init__(self, spec: FunctionSpec, compiled: Compiled, session: Session,
                 options: CallOptions | None = None) -> None:
        self.spec = spec
        self.compiled = compiled
        self._session = session
        self.options = options or CallOptions()
        self._arguments = Arguments(spec, compiled.types.types.__name__)
        self.__name__ = self.__qualname__ = spec.name
        self.__signature__ = self._arguments.signature
        self.__doc__ = docstring(spec)
        self._version: str | None = None

    # -- arguments -------------------------------------------------------------

    def _prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, sending: bool = True,
                 ) -> tuple[dict[str, Any], CallOptions, str | None, str | None]:
        """Arguments checked, options, the client in force and the override to send (if any); only a call that
        sends a request needs the client's environment variables."""
        options = self.options
        try:
            for option in _CALL_OPTIONS:
                if option in kwargs and option not in self.__signature__.parameters:
                    options = dataclasses.replace(options, **{option: kwargs.pop(option)})
            values = self._arguments.check(args, kwargs)
        except (TypeError, ValueError) as exc:
            raise one_line(exc) from None
        client = self.client_in_force  # per-call options never change the client
        if client is not None and sending:
            check_env(client, self.compiled.clients)
        override = client if client != self.spec.client else None
        return values, options, client, override

    def _open_run(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, foreground: bool = True,
                 stream: bool | None = True, env: dict[str, str] | None = None, kept: str | None = "call") -> Run:
        """Check the arguments and start the call; the Run is what ``Fn.last`` will hold.

        ``stream=False`` when nobody will read partials: the answer then comes in one piece;
        ``None``: as the options or the session say. ``env``: the environment to call with (else a
        copy of the process's, taken now). ``kept``: what the run history keeps it as (None: the
        caller keeps it, as a grid keeps its verdicts).
        """
        return begin_run(self._new_run(args, kwargs, foreground=foreground, stream=stream, env=env, kept=kept))

    def _new_run(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, foreground: bool = True,
                 stream: bool | None = True, env: dict[str, str] | None = None, kept: str | None = "call") -> Run:
        """Check the arguments and record the call, not started yet.

        ``stream=None``: as the options or the session say (a stall watch always needs the stream).
        """
        values, options, client, override = self._prepare(args, dict(kwargs))
        if stream is None:
            chosen = options.stream if options.stream is not None else self._session.settings.stream
            stream = chosen or options.idle_timeout is not None
        stream = stream or options.stop_when is not None  # it reads the partials
        cache = self._session.cache
        if cache.mode != "off":
            self.compiled.engine.require("cache")
        allow = options.allow_incomplete
        run = Run(self.spec.name, values, self.compiled.engine, client=client,
                  override=override, options=options, stream=stream,
                  cache=cache if cache.mode != "off" else None, returns=self.spec.baml_signature, env=env,
                  returns_hint=self._returns_hint if options.tb is None else None,  # a TypeBuilder adds to it
                  allow_incomplete=allow if allow is not None else self._session.settings.allow_incomplete,
                  plain=self._session.settings.plain_requests)
        run.test_maker = lambda run, name, expect: made.from_run(self._maker(), run, name, expect)
        self._session.record(run, foreground, kept=kept, version=self.version if kept is not None else "")
        return run

    def _http_request(self, args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool, *,
                      sending: bool = False) -> Any:
        """The request BAML would send; ``sending``: with the real keys (a missing one is an error)."""
        values, options, _, override = self._prepare(args, kwargs, sending=sending)
        return build_request(self.compiled, self.spec.name, values, client=override, tb=options.tb, stream=stream,
                              sending=sending, fetches_media=self._arguments.takes_media)

    @argument_errors
    def prompt(self, *args: Any, **kwargs: Any) -> PromptView:
        """The rendered prompt for these arguments, as messages with roles; no LLM call."""
        request = self._http_request(args, kwargs, stream=False)
        try:
            body = request.body.json()  # whole: the prompt view decides how much of the media to show
        except Exception:  # noqa: BLE001 - a body that is not JSON has no messages to show
            body = {}
        return PromptView(self.spec.name, messages_of(body if isinstance(body, dict) else {}))

    @argument_errors
    def request(self, *args: Any, **kwargs: Any) -> RequestView:
        """The HTTP request a call would send (method, url, headers, body); secrets redacted."""
        return RequestView.from_http(self._http_request(args, kwargs, stream=True))

    # -- calling ---------------------------------------------------------------

    def _live(self, run: Run, view: View) -> Live:
        return Live(lambda: view.update(run), final=lambda: view.finish(run), finished=lambda: run.done,
                    refresh_hz=self._session.settings.refresh_hz, news=run.version, name=run.function)

    def _follow(self, run: Run) -> Live | None:
        """The live view of a call in the cell's output, refreshing (None when nothing is shown)."""
        view = make_view(self._session.settings.display, run)
        return None if isinstance(view, NullView) else self._live(run, view).start()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = self._new_run(args, kwargs, stream=None)
        if can_run_here(run):
            try:
                run_here(run)
            except KeyboardInterrupt:
                raise interrupted(f"{run.function} after {run.elapsed:.2f} s", run.kept_note()) from None
            return outcome(run.value, run.error)
        begin_run(run)
        live = self._follow(run)
        try:
            run.wait()
        except KeyboardInterrupt:
            run.cancel()
            run.settle()
            if live is not None:
                live.stop()
            raise interrupted(f"{run.function} after {run.elapsed:.2f} s", run.kept_note()) from None
        if live is not None:
            live.stop()
        return outcome(run.value, run.error)

    def start(self, *args: Any, **kwargs: Any) -> Background:
        """Run in the background: the cell finishes at once; the handle has cancel(), result(), done, partial."""
        run = self._open_run(args, kwargs, foreground=False)
        view = make_view(self._session.settings.display, run, background=True)
        return Background(run, view, self._live(run, view).start())

    def stream(self, *args: Any, **kwargs: Any) -> PartialStream:
        """An iterator (and context manager) of typed partials; ``.final`` once it ends."""
        return PartialStream(self._open_run(args, kwargs))

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        """Await the call; the live view updates while the event loop runs."""
        run = self._open_run(args, kwargs, stream=None)
        live = self._follow(run)
        try:
            # Short sleeps, not an event: ipykernel cancels an await-cell's task from a signal handler.
            while not run.done:
                await asyncio.sleep(ASYNC_POLL_SECONDS)
        except BaseException as exc:
            run.cancel()
            run.settle()
            if live is not None:
                live.stop()
            if isinstance(exc, asyncio.CancelledError):  # ipykernel's interrupt of an await-cell
                # One line, not asyncio's long traceback (which also took ipykernel 30-100 ms to format).
                one_line_as(exc, "CancelledError",
                            f"{run.function} after {run.elapsed:.2f} s cancelled; {run.kept_note()}")
            raise
        if live is not None:
            live.stop()
        return outcome(run.value, run.error)

    def astream(self, *args: Any, **kwargs: Any) -> AsyncPartialStream:
        """An async iterator (and async context manager) of typed partials."""
        return AsyncPartialStream(self._open_run(args, kwargs))

    @property
    def _returns_hint(self) -> tuple[Any, dict[str, dict[str, str]]] | None:
        """The return type to tell a listening stand-in model (``_call_hooks``), where the prompt does not carry
        BAML's own format as BAML writes it: written by hand, none at all, or BAML's with arguments of its own (a
        prefix); None when nothing listens."""
        if not call_hooks.listening() or self.spec.returns is str or _PLAIN_FORMAT.search(self.spec.prompt or ""):
            return None
        return self.spec.returns, self.compiled.aliases

    @property
    def client_in_force(self) -> str | None:
        """The client a call of this function uses: its own options', else the session's, else its own."""
        return self.options.client or self._session.client_override or self.spec.client

    def playground(self, *, stop_when: Any = None) -> Playground:
        """The interactive playground widget for this function (``stop_when`` as for a call)."""
        opened: Playground = self._session.open_playground(self.spec.name, stop_when or self.options.stop_when)
        return opened

    @property
    def last_map(self) -> MapResult | None:
        """The last map of this function: every slot's result or error, and the counts."""
        return self._session.last_map.get(self.spec.name)

    def with_options(self, *, client: str | None = None, timeout: float | None = None,
                     idle_timeout: float | None = None, tb: Any = None, stream: bool | None = None,
                     allow_incomplete: bool | None = None, stop_when: Any = None) -> BamlFunction:
        """A copy of this function bound to another client, a deadline in seconds, a longest wait
        for the next token (``idle_timeout``), a TypeBuilder, whether its calls stream
        (``stream=False``: the answer in one piece, cheaper, with no partials; see ``BamlMagic.stream``),
        whether an answer cut at the token limit, filtered or refused is accepted (``allow_incomplete``;
        by default it raises ``IncompleteAnswerError``), and/or ``stop_when(partial)``, which ends a call early
        (the request closed, the partial its value, ``status == "stopped"``); ``stop_when="checks"`` ends it
        with ``ChecksFailed`` when a ``@check`` fails on a field the model has finished."""
        try:
            options = dataclasses.replace(
                self.options,
                client=clients.validate(client, self.compiled) if client is not None else self.options.client,
                timeout=timeout if timeout is not None else self.options.timeout,
                idle_timeout=idle_timeout if idle_timeout is not None else self.options.idle_timeout,
                tb=tb if tb is not None else self.options.tb,
                stream=stream if stream is not None else self.options.stream,
                allow_incomplete=allow_incomplete if allow_incomplete is not None else self.options.allow_incomplete,
                stop_when=stop_when if stop_when is not None else self.options.stop_when,
            )
        except (TypeError, ValueError) as exc:
            raise one_line(exc) from None
        return BamlFunction(self.spec, self.compiled, self._session, options)

    def type_builder(self) -> Any:
        """A new TypeBuilder of this project (BAML's generated class) for ``@@dynamic`` types: pass it per call
        (``Fn(..., tb=tb)``) or bind it (``Fn.with_options(tb=tb)``)."""
        return self.compiled.engine.type_builder()

    @property
    def last(self) -> Run | None:
        """The last run of this function in this session (status, value, partial, usage, timing)."""
        return self._session.last.get(self.spec.name)

    def __reduce__(self) -> tuple[Any, tuple[Recipe]]:
        """A function pickles as its recipe (project files, name, options; no key), for a Ray worker."""
        return _travelled, (recipe_of(self),)

    def __repr__(self) -> str:
        return f"<BamlFunction {python_signature(self.spec)}>"


def _travelled(recipe: Recipe) -> BamlFunction:
    """The function a recipe describes, made in this process (its project compiled once here)."""
    spec, compiled, session, options, version = worker_parts(recipe)
    fn = BamlFunction(spec, compiled, session, options)
    fn._version = version
    return fn
