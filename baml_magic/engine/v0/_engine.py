"""BAML v0 (the ``baml-py`` runtime): compile, call, stream, build requests, parse, read the call's log.

The measured traps of baml-py are handled here: calls go through the async API on
a loop of our own with an ``AbortController`` kept referenced for as long as the call runs;
``env`` is passed on every call; a blocking call honours an abort that arrives while it runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys
import time
import types as pytypes
from collections.abc import Callable
from typing import Any

import baml_py
from baml_py.errors import BamlError

from baml_magic.engine._seam import TypeModules
from baml_magic.engine._worker import worker
from baml_magic.engine.v0._log import read_log, reply_of, selected_call
from baml_magic.wire import Facts, read_reasoning

THINKING_EVERY = 0.05  # seconds between reads of a stream's events for the model's thinking

# What a child process runs to compile files with only baml_py imported (the editor's check).
COMPILE_SCRIPT = """
import json, os, sys
import baml_py
job = json.loads(sys.stdin.buffer.read())
try:
    baml_py.BamlRuntime.from_files(job["root"], {job["root"] + "/" + n: t for n, t in job["files"].items()},
                                   dict(os.environ))
    message = None
except Exception as exc:
    message = str(exc) or type(exc).__name__
sys.stdout.write(json.dumps(message))
"""


def quiet() -> None:
    """BAML logs every call at INFO to stderr: keep notebooks quiet (unless the user set ``BAML_LOG``)."""
    baml_py.baml_py.set_log_level("OFF")


def registry(client: str | None) -> baml_py.ClientRegistry | None:
    """A ClientRegistry making ``client`` the primary (a project client or a shorthand), or None."""
    if client is None:
        return None
    reg = baml_py.ClientRegistry()
    reg.set_primary(client)
    return reg


_RUNTIME_NAME = "DO_NOT_USE_DIRECTLY_UNLESS_YOU_KNOW_WHAT_YOURE_DOING_RUNTIME"


def type_builder_class(modules: TypeModules, runtime: baml_py.BamlRuntime) -> Any:
    """The generated ``TypeBuilder`` class, bound to this runtime (for ``@@dynamic`` types).

    The generated module imports its runtime from the package's ``globals``, which would build a
    global runtime: a stand-in ``globals`` module hands it ours instead.
    """
    package_name = modules.types.__name__.rsplit(".", 1)[0]
    stand_in = sys.modules.get(f"{package_name}.globals")
    if stand_in is None:
        stand_in = pytypes.ModuleType(f"{package_name}.globals")
        sys.modules[stand_in.__name__] = stand_in
    setattr(stand_in, _RUNTIME_NAME, runtime)
    module = importlib.import_module(f"{package_name}.type_builder")
    setattr(module, _RUNTIME_NAME, runtime)  # the same generated text may come back with a new runtime
    return module.TypeBuilder


def _tb(tb: Any) -> Any:
    """The runtime's own TypeBuilder inside a generated one (or None)."""
    return None if tb is None else tb._tb


class V0Engine:
    """A project compiled by baml-py, with the Python types BAML's generator made for it."""

    def __init__(self, runtime: baml_py.BamlRuntime) -> None:
        self.runtime = runtime
        self._types: TypeModules | None = None

    def require(self, feature: str) -> None:
        """Every feature of baml_magic runs on v0."""

    @classmethod
    def compile(cls, root: str, files: dict[str, str], env: dict[str, str]) -> V0Engine:
        """Compile ``files`` (name -> text under ``root``); a ``BamlError`` says why not.

        The generated Python types are given once BAML's generator has made them (``use_types``).
        """
        return cls(baml_py.BamlRuntime.from_files(root, {f"{root}/{name}": text for name, text in files.items()}, env))

    def use_types(self, types: TypeModules) -> None:
        self._types = types

    @property
    def types(self) -> TypeModules:
        assert self._types is not None, "the generated types are given before any call"
        return self._types

    def open_call(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                  env: dict[str, str], stream: bool) -> V0Call:
        return V0Call(self, function, args, client=client, tb=tb, env=env, stream=stream)

    def build_request(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                      env: dict[str, str], stream: bool) -> Any:
        return self.runtime.build_request_sync(function, args, self.runtime.create_context_manager(), _tb(tb),
                                               registry(client), env, stream)

    async def build_request_async(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                                  env: dict[str, str], stream: bool) -> Any:
        return await self.runtime.build_request(function, args, self.runtime.create_context_manager(), _tb(tb),
                                                registry(client), env, stream)

    def parse(self, function: str, text: str, *, partial: bool, client: str | None, tb: Any,
              env: dict[str, str]) -> Any:
        types = self.types
        return self.runtime.parse_llm_response(function, text, types.types, types.types, types.stream_types,
                                               partial, self.runtime.create_context_manager(), _tb(tb),
                                               registry(client), env)

    def client_problem(self, function: str, client: str, env: dict[str, str]) -> str | None:
        try:
            self.build_request(function, {}, client=client, tb=None, env=env, stream=False)
        except BamlError as exc:
            return str(exc) or type(exc).__name__
        return None

    def type_builder(self) -> Any:
        return type_builder_class(self.types, self.runtime)()

    def cast(self, result: Any, partial: bool) -> Any:
        types = self.types
        return result.cast_to(types.types, types.types, types.stream_types, partial, self.runtime)


class V0Call:
    """One call on baml-py's runtime, with its own collector and abort controller."""

    def __init__(self, engine: V0Engine, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                 env: dict[str, str], stream: bool) -> None:
        self._engine = engine
        self.function, self.args, self.client, self.tb, self.env, self.streamed = function, args, client, tb, env, \
            stream
        self._collector: baml_py.Collector | None = baml_py.Collector("baml_magic")
        self._abort = baml_py.AbortController()  # referenced for the whole call: a dropped one aborts it
        self._facts: Facts | None = None
        self.wire_streamed = False

    def _parts(self) -> tuple[Any, Any, Any, list[baml_py.Collector]]:
        runtime = self._engine.runtime
        return (runtime.create_context_manager(), _tb(self.tb), registry(self.client),
                [self._collector] if self._collector is not None else [])

    async def stream(self, on_partial: Callable[[Any], None] | None,
                     on_reasoning: Callable[[str], None] | None = None) -> Any:
        """The typed value over a stream; ``on_partial`` (None: nobody reads them) gets each typed partial,
        ``on_reasoning`` each piece of the model's thinking (read from the stream's events as they come)."""
        engine = self._engine
        answering = [False]

        def on_event(result: Any) -> None:
            # Exceptions raised here would be swallowed by the runtime: keep this total.
            try:
                if not result.is_ok():
                    return
                partial = engine.cast(result, True)
            except Exception:  # noqa: BLE001 - a partial that does not cast yet is simply skipped
                return
            assert on_partial is not None
            answering[0] = True
            on_partial(partial)

        ctx, tb, reg, collectors = self._parts()
        self.wire_streamed = True
        stream = engine.runtime.stream_function(  # type: ignore[call-arg]  # the stub lacks abort_controller
            self.function, self.args, on_event if on_partial is not None else None, ctx, tb, reg, collectors,
            self.env, tags={}, on_tick=self._thinking_reader(on_reasoning, answering) if on_reasoning else None,
            abort_controller=self._abort)
        return engine.cast(await stream.done(ctx), False)

    def _thinking_reader(self, on_reasoning: Callable[[str], None], answering: list[bool]) -> Callable[[], None]:
        """What the runtime calls on each tick of a stream: the thinking in the events that came since the last
        read (at most every ``THINKING_EVERY`` seconds), until the answer has started and the thinking stopped."""
        seen, last, thinking = 0, 0.0, [True]

        def read() -> None:
            nonlocal seen, last
            now = time.monotonic()
            if not thinking[0] or now - last < THINKING_EVERY or self._collector is None:
                return
            last = now
            with contextlib.suppress(Exception):  # the runtime swallows what a tick raises: keep this total
                log = self._collector.last
                call = log.calls[-1] if log is not None and log.calls else None
                sse = getattr(call, "sse_responses", None)  # a stream's attempt (a plain one has none)
                events = sse() if sse is not None else None
                if not events or len(events) <= seen:
                    return
                fresh, seen = events[seen:], len(events)
                text = read_reasoning((e.text for e in fresh), str(getattr(call, "provider", "") or "") or None)
                if text:
                    on_reasoning(text)
                elif answering[0]:
                    thinking[0] = False  # reasoning precedes the answer: stop reading the stream's events
        return read

    async def call(self, *, plain: bool = False) -> Any:
        """In one piece to the caller, streamed on the wire unless ``plain`` (measured against llama.cpp's server:
        an interrupted plain request kept it generating; a stream stops it at its next token)."""
        if not plain:
            return await self.stream(None)
        ctx, tb, reg, collectors = self._parts()
        result = await self._engine.runtime.call_function(self.function, self.args, ctx, tb, reg, collectors,
                                                          self.env, {}, abort_controller=self._abort)
        return self._engine.cast(result, False)

    def call_blocking(self, *, plain: bool = False) -> Any:
        return worker().submit(self.call(plain=plain)).result()  # an abort from another thread ends it

    async def request(self) -> Any:
        return await self._engine.build_request_async(self.function, self.args, client=self.client, tb=self.tb,
                                                      env=self.env, stream=False)

    def parse(self, text: str, partial: bool) -> Any:
        return self._engine.parse(self.function, text, partial=partial, client=self.client, tb=self.tb, env=self.env)

    def abort(self) -> None:
        self._abort.abort()

    def facts(self, error: BaseException | None = None) -> Facts:
        if self._facts is None:
            log = self._collector.last if self._collector is not None else None
            self._facts = read_log(log, status_code=getattr(error, "status_code", None))
        return self._facts

    def problem(self) -> str | None:
        log = self._collector.last if self._collector is not None else None
        return reply_of(selected_call(log), whole=True).problem() if log is not None else None

    def release(self) -> None:
        self._facts = dataclasses.replace(self.facts(), raw=None, headers=(), request=None)
        self._collector = None
        self.env, self.tb = {}, None  # a copy of the environment per call in the history would add up
