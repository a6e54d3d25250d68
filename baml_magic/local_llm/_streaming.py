"""How the offline model writes an answer over time: paced tokens, a hang-up noticed at once, mid-stream faults,
and the two stream shapes (OpenAI's chat chunks, Anthropic's events), its thinking first when it thinks.

With ``model "local?think=N"`` an answer starts with N words of thinking, sent as reasoning models send it:
``reasoning_content`` deltas (DeepSeek's reasoner, vLLM, llama.cpp's server) with
``completion_tokens_details.reasoning_tokens`` in the usage, or Anthropic's ``thinking`` block
(``thinking_delta`` events, then a ``signature_delta``) counted in ``output_tokens``.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

from baml_magic.local_llm._batch_routes import BatchRoutes
from baml_magic.local_llm._state import RequestRecord
from baml_magic.local_llm._wire import split_tokens, stop_reason, usage_body

THOUGHT = ("First I read what the prompt asks for, then which fields the answer needs and what each should say, "
           "and I check the format before I write it. ")
SIGNATURE = "local-thinking-signature"


def thinking_tokens(params: dict[str, str]) -> list[str]:
    """The tokens of ``think=N`` words of thinking (none without it)."""
    words = int(params.get("think", 0))
    text = " ".join((THOUGHT * (words // 20 + 1)).split()[:words])
    return split_tokens(text) if words > 0 else []


class ClientClosed(Exception):
    """The client closed the connection before the answer was complete."""


class StreamWriting(BatchRoutes):
    """The request handler's writing of an answer (``thinking``: how many of its first tokens are thinking)."""

    anthropic = False  # this request came to /messages: answer as Anthropic does
    cut = False  # this answer stops at the request's max_tokens
    thinking = 0

    def _usage(self, record: RequestRecord) -> dict[str, Any]:
        counts: dict[str, Any] = usage_body(self.anthropic, record.prompt_tokens, record.tokens_sent)
        if self.thinking and not self.anthropic:
            counts["completion_tokens_details"] = {"reasoning_tokens": min(self.thinking, record.tokens_sent)}
        return counts

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
            delta: dict[str, Any] = {"reasoning_content": token, "content": None} if i < self.thinking else \
                {"content": token}
            if i == 0:
                delta["role"] = "assistant"
            self._write(event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
        if record.tokens_sent < len(tokens):  # a fault cut it short
            return
        self._write(event({"choices": [{"index": 0, "delta": {}, "finish_reason": stop_reason(False, self.cut)}]}))
        if include_usage:  # as the real API: a usage chunk only when the request asked for one
            self._write(event({"choices": [], "usage": self._usage(record)}))
        self._write(b"data: [DONE]\n\n")

    def _stream_anthropic(self, model: str, tokens: list[str], tps: float, record: RequestRecord,
                          fault: str | None, params: dict[str, str]) -> None:
        """Anthropic's event stream: message_start, a thinking block (when it thinks), text deltas in one content
        block, message_stop."""
        def event(kind: str, payload: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **payload}).encode() + b"\n\n"

        message: dict[str, Any] = {"id": f"msg_local_{record.id}", "type": "message", "role": "assistant",
                                   "model": model, "content": [], "stop_reason": None, "usage": self._usage(record)}
        self._write(event("message_start", {"message": message}))
        text = 1 if self.thinking else 0  # the text block's index
        if self.thinking:
            self._write(event("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                                    "signature": ""}}))
        else:
            self._write(event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        for i, token in self._paced(tokens, tps, record, fault, params):
            if i < self.thinking:
                self._write(event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta",
                                                                                "thinking": token}}))
                continue
            if self.thinking and i == self.thinking:
                self._write(event("content_block_delta", {"index": 0, "delta": {"type": "signature_delta",
                                                                                "signature": SIGNATURE}}))
                self._write(event("content_block_stop", {"index": 0}))
                self._write(event("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}))
            self._write(event("content_block_delta", {"index": text, "delta": {"type": "text_delta", "text": token}}))
        if record.tokens_sent < len(tokens):  # a fault cut it short
            return
        self._write(event("content_block_stop", {"index": text}))
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
