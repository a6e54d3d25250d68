"""A fixture server that answers every request with a recorded provider transcript, on 127.0.0.1.

A transcript is a JSON file: ``source`` (the provider document it was written from), a ``stream``
answer (``status``, ``headers``, ``events``: each ``{"event": name?, "data": text or JSON}`` or a
raw ``": comment"`` line) and/or a ``body`` answer (``status``, ``headers``, ``json``). A request
whose body asks ``"stream": true`` (or whose URL says ``streamGenerateContent``) gets the stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _sse(events: list[Any]) -> bytes:
    out = []
    for event in events:
        if isinstance(event, str):  # a raw line (an SSE comment such as ": OPENROUTER PROCESSING")
            out.append(event + "\n\n")
            continue
        data = event["data"] if isinstance(event["data"], str) else json.dumps(event["data"])
        out.append((f"event: {event['event']}\n" if event.get("event") else "") + f"data: {data}\n\n")
    return "".join(out).encode()


class ReplayServer:
    """Serves one transcript at a time (``use``); ``requests`` holds what came (path, headers, JSON body)."""

    def __init__(self) -> None:
        self.transcript: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                server.requests.append((self.path, dict(self.headers), body))
                wants_stream = (isinstance(body, dict) and body.get("stream") is True) or \
                    "streamGenerateContent" in self.path
                answer = server.transcript.get("stream" if wants_stream else "body") or \
                    server.transcript.get("body") or server.transcript.get("stream") or {}
                payload = _sse(answer["events"]) if "events" in answer else json.dumps(answer.get("json")).encode()
                self.send_response(int(answer.get("status", 200)))
                kind = "text/event-stream" if "events" in answer else "application/json"
                for key, value in {"Content-Type": kind, **answer.get("headers", {})}.items():
                    self.send_header(key, str(value))
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="replay-server",
                                        daemon=True)

    def use(self, transcript: dict[str, Any] | Path) -> dict[str, Any]:
        """Answer with this transcript from now on (a dict, or a path to its JSON file)."""
        self.transcript = json.loads(transcript.read_text()) if isinstance(transcript, Path) else transcript
        return self.transcript

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@contextmanager
def replay_server() -> Iterator[ReplayServer]:
    """A running replay server, stopped at the end."""
    server = ReplayServer()
    server._thread.start()
    try:
        yield server
    finally:
        server.stop()
