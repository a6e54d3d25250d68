"""The offline model's HTTP server: OpenAI-style chat completions and Anthropic-style messages (SSE and plain),
faults, and a request log."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

from baml_magic.local_llm._answers import answer_for
from baml_magic.local_llm._batch_routes import BatchRoutes
from baml_magic.local_llm._batches import Batches, anthropic_error, openai_error
from baml_magic.local_llm._state import RequestRecord, ServerState
from baml_magic.local_llm._wire import (
    chat_messages,
    completion_body,
    media_parts,
    prompt_key,
    prompt_text,
    received,
    split_model,
    split_tokens,
    stop_reason,
    token_limit,
    usage_body,
)

DEFAULT_TPS = 40.0
DEFAULT_WORDS = 40
UNPARSABLE_ANSWER = "I'm sorry, I can only answer in plain words today."
FAULTS = ("http_500", "http_529", "http_429", "http_401_echo", "stall", "malformed", "disconnect", "unparsable")


class ClientClosed(Exception):
    """The client closed the connection before the answer was complete."""


class Handler(BatchRoutes):
    server_version = "local_llm/1.0"
    state: ServerState  # set on the subclass made by make_server
    anthropic = False  # this request came to /messages: answer as Anthropic does
    cut = False  # this answer stops at the request's max_tokens

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def batches(self) -> Batches:
        return self.state.batches

    # -- plumbing -------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _wait(self, seconds: float) -> None:
        """Sleep, but notice at once when the client hangs up."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while True:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([sock], [], [], max(0.0, left))
            if readable:
                try:
                    data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    data = b"?"
                except OSError:
                    data = b""
                if not data:
                    raise ClientClosed
                # Unexpected extra bytes: read them so select does not spin.
                sock.recv(4096)
            if left <= 0:
                return

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ClientClosed from exc

    # -- routes ---------------------------------------------------------------

    def do_GET(self) -> None:
        if self._batch_get(self.path.split("?", 1)[0].rstrip("/")):
            return
        if self.path == "/_stats":
            self._send_json(200, self.state.snapshot())
        elif self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "local", "object": "model"}]})
        else:
            self._error(404, "not_found_error" if "/messages" in self.path else "invalid_request_error",
                        f"local_llm: no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/_reset":
            self.state.reset()
            self._send_json(200, {"ok": True})
            return
        if self.path == "/_expect":
            items = json.loads(raw or b"[]")
            self.state.expect(items if isinstance(items, list) else [])
            self._send_json(200, {"ok": True})
            return
        route = self.path.split("?", 1)[0].rstrip("/")
        if self._batch_post(route, raw):
            return
        if not route.endswith(("/chat/completions", "/messages")):
            self._error(404, "not_found_error" if "/messages" in self.path else "invalid_request_error",
                        f"local_llm: no route {self.path}")
            return
        self.anthropic = route.endswith("/messages")
        try:
            request = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._error(400, "invalid_request_error", "local_llm: the request body is not JSON")
            return
        self._complete(request)

    def _complete(self, request: dict[str, Any]) -> None:
        model, params = split_model(str(request.get("model", "local")))
        fault = params.get("fault")
        times = int(params["times"]) if "times" in params else None
        if fault and not self.state.take_fault(str(request.get("model")), times):
            fault = None
        random_settings = {"error_rate", "fail_rate", "vary"} & set(params)
        chance = self.state.draw(str(request.get("model"))) if random_settings else None
        if chance is not None and not fault:  # per-client behaviour: some requests fail, some answers don't parse
            roll = chance.random()
            error_rate, fail_rate = float(params.get("error_rate", 0)), float(params.get("fail_rate", 0))
            fault = "http_500" if roll < error_rate else "unparsable" if roll < error_rate + fail_rate else None
        stream = bool(request.get("stream"))
        tps = float(params.get("tps", self.state.tps))
        words = int(params.get("words", self.state.words))
        prompt = prompt_text(chat_messages(request))
        record = self.state.open_record(str(request.get("model")), stream, fault)
        record.prompt_tokens = len(split_tokens(prompt))
        record.media = media_parts(request.get("messages") or [])
        record.prompt_sha256 = prompt_key(prompt)
        # seed= makes a client answer differently from another; vary=1 makes each answer differ from the last
        salt = params.get("seed", "") + (f"#{chance.random()}" if chance is not None and "vary" in params else "")
        text = UNPARSABLE_ANSWER if fault == "unparsable" else \
            answer_for(prompt, words, received(record.media), seed=salt,
                       returns=self.state.returns_of(record.prompt_sha256))
        tokens = split_tokens(text)
        limit = token_limit(request)
        self.cut = limit is not None and limit < len(tokens)  # as the real APIs: stop at max_tokens, and say so
        tokens = tokens[:limit] if self.cut else tokens
        record.tokens_planned = len(tokens)
        if "seconds" in params:  # a fixed duration for the whole answer
            tps = len(tokens) / max(float(params["seconds"]), 1e-3)
        outcome = "completed"
        try:
            if fault in ("http_500", "http_529", "http_401_echo", "http_429"):
                outcome = "fault"
                self._fault_answer(fault, params)
            elif stream:
                self._stream(model, tokens, tps, record, fault, params,
                             bool((request.get("stream_options") or {}).get("include_usage")))
                outcome = "fault" if fault else "completed"
            else:
                self._plain(model, tokens, tps, record, fault, params)
                outcome = "fault" if fault else "completed"
        except ClientClosed:
            outcome = "client_closed"
        finally:
            self.state.close_record(record, outcome)

    def _error(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        """An error body as the provider's API shapes it (OpenAI's or Anthropic's)."""
        body = anthropic_error(kind, message) if self.anthropic else openai_error(None, message, kind)
        self._send_json(status, body, headers)

    def _fault_answer(self, fault: str, params: dict[str, str]) -> None:
        """An HTTP fault: a server error, an overload (529), a 401 that echoes the key, or a 429 with the headers
        asked for.

        A 429 says ``Retry-After: 1`` unless the settings say otherwise: ``retry_after=`` (seconds, an
        HTTP date, or ``none``), ``retry_after_ms=``, ``reset_requests=`` / ``reset_tokens=`` (``"1m2s"``).
        """
        if fault == "http_500":
            self._error(500, "api_error" if self.anthropic else "server_error", "local_llm: simulated server error")
        elif fault == "http_529":  # Anthropic's "overloaded" (its documented status 529)
            self._error(529, "overloaded_error", "local_llm: simulated overload")
        elif fault == "http_401_echo":  # a provider that repeats the key it was given, as some do
            given = str(self.headers.get("Authorization") or self.headers.get("x-api-key") or "")
            self._error(401, "authentication_error" if self.anthropic else "invalid_request_error",
                        f"local_llm: invalid API key {given.removeprefix('Bearer ')!r}")
        else:
            headers = {"retry-after-ms": params["retry_after_ms"]} if "retry_after_ms" in params else {}
            for name in ("requests", "tokens"):
                if f"reset_{name}" in params:
                    headers[f"x-ratelimit-reset-{name}"] = params[f"reset_{name}"]
                    headers[f"x-ratelimit-remaining-{name}"] = "0"
            after = params.get("retry_after", "none" if headers else "1")
            if after != "none":
                headers["Retry-After"] = after
            self._error(429, "rate_limit_error", "local_llm: simulated rate limit", headers)

    def _usage(self, record: RequestRecord) -> dict[str, int]:
        return usage_body(self.anthropic, record.prompt_tokens, record.tokens_sent)

    def _plain(self, model: str, tokens: list[str], tps: float, record: RequestRecord,
               fault: str | None, params: dict[str, str]) -> None:
        if fault == "stall":
            self._wait(float(params.get("stall", 30)))
            return
        self._wait(len(tokens) / tps)
        record.first_token = time.time()
        record.tokens_sent = len(tokens)
        self._send_json(200, completion_body(self.anthropic, record.id, model, "".join(tokens), record.prompt_tokens,
                                             record.tokens_sent, cut=self.cut))

    def _stream(self, model: str, tokens: list[str], tps: float, record: RequestRecord,
                fault: str | None, params: dict[str, str], include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self._write(b"")
        base = {"id": f"chatcmpl-local-{record.id}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model}

        def event(payload: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps({**base, **payload}).encode() + b"\n\n"

        if self.anthropic:
            self._stream_anthropic(model, tokens, tps, record, fault, params)
            return

        for i, token in self._paced(tokens, tps, record, fault, params):
            delta: dict[str, str] = {"content": token, **({"role": "assistant"} if i == 0 else {})}
            self._write(event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
        if record.tokens_sent < len(tokens):  # a fault cut it short
            return
        self._write(event({"choices": [{"index": 0, "delta": {}, "finish_reason": stop_reason(False, self.cut)}]}))
        if include_usage:  # as the real API: a usage chunk only when the request asked for one
            self._write(event({"choices": [], "usage": self._usage(record)}))
        self._write(b"data: [DONE]\n\n")

    def _stream_anthropic(self, model: str, tokens: list[str], tps: float, record: RequestRecord,
                          fault: str | None, params: dict[str, str]) -> None:
        """Anthropic's event stream: message_start, text deltas in one content block, message_stop."""
        def event(kind: str, payload: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **payload}).encode() + b"\n\n"

        message: dict[str, Any] = {"id": f"msg_local_{record.id}", "type": "message", "role": "assistant",
                                   "model": model, "content": [], "stop_reason": None, "usage": self._usage(record)}
        self._write(event("message_start", {"message": message}))
        self._write(event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        for _, token in self._paced(tokens, tps, record, fault, params):
            self._write(event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": token}}))
        if record.tokens_sent < len(tokens):  # a fault cut it short
            return
        self._write(event("content_block_stop", {"index": 0}))
        self._write(event("message_delta", {"delta": {"stop_reason": stop_reason(True, self.cut),
                                                      "stop_sequence": None},
                                            "usage": self._usage(record)}))
        self._write(event("message_stop", {}))

    def _paced(self, tokens: list[str], tps: float, record: RequestRecord, fault: str | None,
               params: dict[str, str]) -> Iterator[tuple[int, str]]:
        """Each token when its time comes (the caller writes it); a mid-stream fault ends the stream early."""
        stop_after = int(params.get("after", 5)) if fault in ("disconnect", "malformed", "stall") else None
        for i, token in enumerate(tokens):
            if stop_after is not None and i == stop_after:
                self._fault_mid_stream(fault, params)
                return
            self._wait(1.0 / tps)
            if i == 0:
                record.first_token = time.time()
            yield i, token
            record.tokens_sent += 1
            record.sent_at.append(time.time())

    def _fault_mid_stream(self, fault: str | None, params: dict[str, str]) -> None:
        if fault == "malformed":
            self._write(b"data: {\"choices\": [{\"delta\": {\"content\": \n\n")
            self._write(b"data: [DONE]\n\n")
        elif fault == "stall":
            self._wait(float(params.get("stall", 30)))
        elif fault == "disconnect":
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections when many calls start at once; a dropped
    # SYN is retried after a second, which would show up as a one-second stall in every benchmark.
    request_queue_size = 128


def make_server(host: str = "127.0.0.1", port: int = 0, tps: float = DEFAULT_TPS,
                words: int = DEFAULT_WORDS) -> ThreadingHTTPServer:
    """A server bound to host:port (0 picks a free port); call serve_forever() to run it."""
    handler = type("LocalLLMHandler", (Handler,), {"state": ServerState(tps=tps, words=words)})
    server = Server((host, port), handler)
    server.daemon_threads = True
    return server


