"""The offline model's HTTP server: OpenAI-style chat completions and Anthropic-style messages (SSE and plain),
faults, and a request log."""

from __future__ import annotations

import json
import time
from http.server import ThreadingHTTPServer
from typing import Any

from baml_magic.local_llm._answers import answer_for
from baml_magic.local_llm._batches import Batches, anthropic_error, openai_error
from baml_magic.local_llm._state import RequestRecord, ServerState
from baml_magic.local_llm._streaming import ClientClosed, StreamWriting, thinking_tokens
from baml_magic.local_llm._wire import (
    chat_messages,
    completion_body,
    media_parts,
    prompt_key,
    prompt_text,
    received,
    split_model,
    split_tokens,
    token_limit,
)

DEFAULT_TPS = 40.0
DEFAULT_WORDS = 40
UNPARSABLE_ANSWER = "I'm sorry, I can only answer in plain words today."
FAULTS = ("http_500", "http_529", "http_429", "http_401_echo", "stall", "malformed", "disconnect", "unparsable")


class Handler(StreamWriting):
    server_version = "local_llm/1.0"
    state: ServerState  # set on the subclass made by make_server

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
        thinking = thinking_tokens(params)  # think=N: N words of thinking before the answer
        self.thinking, tokens = len(thinking), thinking + tokens
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

    def _plain(self, model: str, tokens: list[str], tps: float, record: RequestRecord,
               fault: str | None, params: dict[str, str]) -> None:
        if fault == "stall":
            self._wait(float(params.get("stall", 30)))
            return
        self._wait(len(tokens) / tps)
        record.first_token = time.time()
        record.tokens_sent = len(tokens)
        self._send_json(200, completion_body(self.anthropic, record.id, model, "".join(tokens[self.thinking:]),
                                             record.prompt_tokens, record.tokens_sent, cut=self.cut,
                                             thinking="".join(tokens[:self.thinking])))


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


