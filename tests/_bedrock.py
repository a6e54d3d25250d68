"""A Bedrock Converse / ConverseStream stand-in on 127.0.0.1, for what no offline OpenAI-style model shows.

Its streams are AWS's binary event stream as the Bedrock Runtime API reference and AWS's event stream encoding
page document it: each message a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes), headers
(name length, name, type 7 = string, value length, value: ``:event-type``, ``:content-type``, ``:message-type``),
a JSON payload and a CRC32 of the whole message. ConverseStream's events: ``messageStart``, ``contentBlockDelta``,
``contentBlockStop``, ``messageStop`` (``stopReason``), then ``metadata`` (``usage``, ``metrics``). botocore's own
``EventStreamBuffer`` decodes what is served here in the tests (``decode``), so it is the referee of these bytes.
"""

from __future__ import annotations

import binascii
import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


def message(event_type: str, payload: dict[str, Any]) -> bytes:
    """One event stream message: prelude, prelude CRC, headers, payload, message CRC."""
    headers = (_header(":event-type", event_type) + _header(":content-type", "application/json")
               + _header(":message-type", "event"))
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    head = prelude + struct.pack(">I", binascii.crc32(prelude)) + headers + body
    return head + struct.pack(">I", binascii.crc32(head))


def decode(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """What botocore reads of these bytes: (event type, payload) per message."""
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(m.headers[":event-type"], json.loads(m.payload)) for m in buffer]


def events(text: str, *, stop: str = "end_turn", usage: dict[str, int] | None = None,
           finish: bool = True) -> Iterator[bytes]:
    """A ConverseStream answer of ``text`` in a few deltas; ``finish=False`` ends it without messageStop."""
    yield message("messageStart", {"role": "assistant", "p": "abc"})
    step = max(1, len(text) // 5)
    for at in range(0, len(text), step):
        yield message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text[at:at + step]}, "p": "ab"})
    yield message("contentBlockStop", {"contentBlockIndex": 0, "p": "a"})
    if not finish:
        return
    yield message("messageStop", {"stopReason": stop, "p": "abcd"})
    counts = usage or {"inputTokens": 21, "outputTokens": 9, "totalTokens": 30}
    yield message("metadata", {"usage": counts, "metrics": {"latencyMs": 12}, "p": "abcdef"})


class Bedrock:
    """Serves ``/model/{id}/converse-stream`` and ``/model/{id}/converse``; ``answer`` and the keyword
    arguments of ``events`` set what the next calls get."""

    def __init__(self) -> None:
        self.answer = '{"title": "Owls", "body": "They hunt at night."}'
        self.options: dict[str, Any] = {}
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked streams need it

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.paths.append(self.path)
                if self.path.endswith("/converse-stream"):
                    self.send_response(200)
                    self.send_header("content-type", "application/vnd.amazon.eventstream")
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for chunk in events(server.answer, **server.options):
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                stop = server.options.get("stop", "end_turn")
                counts = server.options.get("usage") or {"inputTokens": 21, "outputTokens": 9, "totalTokens": 30}
                body = json.dumps({"output": {"message": {"role": "assistant", "content": [{"text": server.answer}]}},
                                   "stopReason": stop, "usage": counts, "metrics": {"latencyMs": 12}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
