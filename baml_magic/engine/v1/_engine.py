"""The BAML v1 engine (experimental): the same seam as ``v0``, over ``baml-bridge``'s runtime.

Calls go through the bridge's wire protocol (``encode_call_args`` -> ``call_function`` ->
``decode_call_result``) on the worker's loop. An abort cancels the bridge's call by id (a plain call's
connection closes in milliseconds), and a stream's cancel token too, then drops every reference to the
stream: the bridge closes a stream's connection only then (about 0.2 s later, measured by
``tests/test_v1.py``). Errors come out as baml-py's exception types, so views and maps read them alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baml_py.errors import (
    BamlAbortError,
    BamlClientError,
    BamlClientHttpError,
    BamlError,
    BamlTimeoutError,
    BamlValidationError,
)

from baml_magic._errors import ShortError
from baml_magic.engine.v1._bridge import bridge, one_line
from baml_magic.engine.v1._log import read_events
from baml_magic.wire import Facts

NAME = "v1"
UNSUPPORTED = {
    "batch": "provider batch APIs (Fn.batch)",
    "compare": "comparing clients (Fn.compare, %baml test)",
    "client": "choosing another client per call (with_options(client=...), %baml client)",
    "tb": "TypeBuilders (@@dynamic types)",
    "cache": "the response cache (record/replay)",
    "optimize": "BAML's prompt optimizer (%baml optimize, Fn.optimize)",
    "made_tests": "tests made from answers (Fn.last.to_test, Fn.tests_from)",
}


def require_v0(engine_name: str, feature: str) -> None:
    """A one-line error when a feature v1 lacks is asked of a v1 function."""
    if engine_name == NAME:
        raise V1Unsupported(feature)


class V1Unsupported(ShortError, NotImplementedError):
    """What v0 can do here and v1 can't yet (one line, naming the feature)."""

    def __init__(self, feature: str) -> None:
        super().__init__(f"{UNSUPPORTED.get(feature, feature)} is not available for BAML v1 functions yet "
                         "(experimental); write the function in a v0 %%baml cell for it")


@dataclass(frozen=True)
class HttpRequest:
    """A request as the views read one (``url``, ``method``, ``headers``, ``body.json()``, ``body.text()``)."""

    method: str
    url: str
    headers: dict[str, str]
    body: _Body


@dataclass(frozen=True)
class _Body:
    raw: str

    def text(self) -> str:
        return self.raw

    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else {}


class V1Engine:
    """The v1 program compiled last (the bridge holds one runtime per process: every v1 source is in it)."""

    name = NAME

    def require(self, feature: str) -> None:
        """A one-line error for a feature v1 can't do here yet."""
        require_v0(NAME, feature)

    def __init__(self, llm_functions: set[str], streaming: set[str], optional: dict[str, set[str]],
                 clients: dict[str, str | None] | None = None) -> None:
        self.llm_functions = llm_functions
        self.streaming = streaming
        self.optional = optional  # per function, the parameters with a BAML default
        self.clients = clients or {}  # per LLM function, the client its source names

    def omitted(self, function: str, args: dict[str, Any]) -> dict[str, Any]:
        """The arguments to send: an optional parameter left at None takes its BAML default."""
        optional = self.optional.get(function, set())
        return {k: v for k, v in args.items() if v is not None or k not in optional}

    def invoke(self, target: str, args: dict[str, Any]) -> Any:
        """A function of the runtime (a companion like ``F@build_request`` too), called on this thread."""
        bb = bridge()
        encoded = bb.encode_call_args(args, bb.new_function_call(), function_name=target)
        return bb.decode_call_result(bb.get_runtime().call_function_sync(encoded))

    def open_call(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                  env: dict[str, str], stream: bool) -> V1Call:
        if client is not None:
            raise V1Unsupported("client")
        if tb is not None:
            raise V1Unsupported("tb")
        return V1Call(self, function, self.omitted(function, args), stream=stream)

    def build_request(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                      env: dict[str, str], stream: bool) -> Any:
        if function not in self.llm_functions:
            raise BamlError(f"{function} calls no LLM: it has no prompt or request")
        try:
            made = self.invoke(f"user.{function}@build_request", self.omitted(function, args))
        except Exception as exc:  # noqa: BLE001 - one line, baml-py's type
            raise BamlError(one_line(exc)) from None
        body = made.body if isinstance(made.body, str) else json.dumps(made.body)
        return HttpRequest(str(made.method), str(made.url), dict(made.headers or {}), _Body(body))

    async def build_request_async(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                                  env: dict[str, str], stream: bool) -> Any:
        return await asyncio.to_thread(self.build_request, function, args, client=client, tb=tb, env=env,
                                       stream=stream)

    def parse(self, function: str, text: str, *, partial: bool, client: str | None, tb: Any,
              env: dict[str, str]) -> Any:
        try:
            return self.invoke(f"user.{function}@parse", {"json": text})
        except Exception as exc:  # noqa: BLE001 - one line, baml-py's type
            raise translate(exc, function) from None

    def client_problem(self, function: str, client: str, env: dict[str, str]) -> str | None:
        return str(V1Unsupported("client"))

    def type_builder(self) -> Any:
        raise V1Unsupported("tb")


def translate(exc: BaseException, function: str, client: str | None = None) -> BaseException:
    """A bridge error as baml-py's exception of the same meaning, on one line."""
    if isinstance(exc, (asyncio.CancelledError, BamlError)):
        return exc
    name = str(getattr(exc, "class_name", "") or "")
    if name.endswith("Cancelled"):
        return BamlAbortError("cancelled")
    if isinstance(exc, TypeError):
        return TypeError(f"{function}: {one_line(exc)}")
    value = getattr(exc, "value", None)
    message = f"{function}: {one_line(exc)}"
    if name == "ai.errors.ParseFailed":
        return BamlValidationError("", message, str(getattr(value, "raw_output", "") or ""), "")
    if name == "baml.errors.Timeout":
        return BamlTimeoutError(client or "", message)
    status = getattr(value, "status_code", None) or getattr(value, "status", None)
    if isinstance(status, int):
        return BamlClientHttpError(client or "", message, status, "")
    if name.startswith("ai.errors."):
        return BamlClientError(message)
    return BamlError(message)


class V1Call:
    """One call on the bridge: its call ids, its stream's cancel token, and the task awaiting it."""

    def __init__(self, engine: V1Engine, function: str, args: dict[str, Any], *, stream: bool) -> None:
        self._engine = engine
        self.function, self.args, self.streamed = function, args, stream
        self.wire_streamed = False
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._token: Any = None
        self._stream: Any = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aborted = False
        self._raw: str | None = None
        self._events: list[Any] = []  # what the call's on_event listener heard (read into Facts at the end)
        self._facts: Facts | None = None

    def _begin(self) -> Any:
        with self._lock:
            if self._aborted:
                raise asyncio.CancelledError()
            self._task, self._loop = asyncio.current_task(), asyncio.get_running_loop()
        return bridge()

    def _encoded(self, target: str, **controls: Any) -> bytes:
        bb = bridge()
        call_id = bb.new_function_call()
        with self._lock:
            self._ids.append(call_id)
        args = dict(self.args)
        if self.function in self._engine.llm_functions:
            args["on_event"] = self._heard
        return bb.encode_call_args(args, call_id, function_name=target, **controls)  # type: ignore[no-any-return]

    def _heard(self, event: Any) -> None:
        """The call's ``on_event`` listener (v1 runs it on the calling loop; what it raises, v1 swallows)."""
        self._events.append(event)

    async def stream(self, on_partial: Callable[[Any], None],
                     on_reasoning: Callable[[str], None] | None = None) -> Any:
        """Its partials (the bridge's events say nothing of a model's thinking: ``on_reasoning`` is not called)."""
        if self.function not in self._engine.streaming:
            return await self.call()
        bb = self._begin()
        try:
            token = self._engine.invoke("baml.spawn.CancelToken.new", {})
            with self._lock:
                self._token = token
            if self._aborted:
                raise asyncio.CancelledError()
            runtime = bb.get_runtime()
            self.wire_streamed = True
            handle = await runtime.call_function(self._encoded(f"user.{self.function}@stream",
                                                               _baml={"cancel": token}), stream=True)
            from baml_bridge import _stream

            decode: Any = _stream._decode_stream_result  # the bridge's own reading of a stream handle
            self._stream = decode(handle, asynchronous=True)
            async for partial in self._stream:
                on_partial(partial)
            return await self._stream.final_async()
        except BaseException as exc:  # noqa: BLE001 - a v1 panic is a BaseException: one line, baml-py's type
            raise self._failed(exc) from None
        finally:
            # The bridge closes a stream's connection once its handle is gone; a traceback's frames can keep the
            # stream itself alive until a garbage collection, so the handle is let go of here.
            stream, self._stream = self._stream, None
            if stream is not None:
                stream._handle = None

    async def call(self, *, plain: bool = False) -> Any:
        bb = self._begin()
        try:
            result = await bb.get_runtime().call_function(self._encoded(f"user.{self.function}"))
            return bb._decode_call_result_async(result)
        except BaseException as exc:  # noqa: BLE001 - a v1 panic is a BaseException: one line, baml-py's type
            raise self._failed(exc) from None

    def call_blocking(self, *, plain: bool = False) -> Any:
        from baml_magic.engine._worker import worker  # the worker's loop; an abort from another thread cancels it

        return worker().submit(self.call(plain=plain)).result()

    async def request(self) -> Any:
        return await self._engine.build_request_async(self.function, self.args, client=None, tb=None, env={},
                                                      stream=self.streamed)

    def parse(self, text: str, partial: bool) -> Any:
        return self._engine.parse(self.function, text, partial=partial, client=None, tb=None, env={})

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            ids, token, task, loop = list(self._ids), self._token, self._task, self._loop
        bb = bridge()
        for call_id in ids:
            bb.cancel_function_call(call_id)
        if token is not None:
            self._engine.invoke("baml.spawn.CancelToken.cancel", {"self": token})
        if task is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)

    def _failed(self, exc: BaseException) -> BaseException:
        """What a failed call raises: an interrupt or a cancellation as it is, anything else translated (the raw
        answer of a parse failure kept)."""
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
            return exc
        raw = getattr(getattr(exc, "value", None), "raw_output", None)
        if isinstance(raw, str):
            self._raw = raw
        return translate(exc, self.function, self._engine.clients.get(self.function))

    def facts(self, error: BaseException | None = None) -> Facts:
        if self._facts is None:
            read = read_events(list(self._events), self._engine.clients.get(self.function))
            self._facts = read if read.raw or not self._raw else dataclasses.replace(read, raw=self._raw)
        return self._facts

    def problem(self) -> str | None:
        return self.facts().reply.problem()

    def release(self) -> None:
        facts = self.facts()
        with self._lock:
            self._facts = dataclasses.replace(facts, raw=None, headers=(), request=None)
            self._token, self._stream, self._task, self._loop, self._raw = None, None, None, None, None
            self._events = []
