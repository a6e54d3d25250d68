"""An offline, OpenAI-compatible chat-completions server on 127.0.0.1.

It streams (SSE) or answers plainly at a set token rate, fits its JSON answers to the
output-format schema BAML puts in the prompt, reports token usage, and records every
request (when it started, how many tokens it sent, whether the client closed it early),
so demos run with no network or key and tests can check cancellation from the server side.

Run it as ``python -m baml_magic.local_llm --port 8765`` or, from Python, ``start()``,
which runs it in a process of its own (never as a thread inside a kernel).

A client's ``model`` option can carry per-request settings after a ``?``, for example
``"local?tps=20&words=60"``, ``"local?seconds=1"`` (the whole answer in one second) or
``"local?fault=http_500"`` (add ``&times=2`` to fault only the first two requests). Faults: ``http_500``, ``http_529``,
``http_429`` (with ``Retry-After``), ``http_401_echo`` (an error that repeats the key), ``stall``
(headers, then silence), ``malformed`` (a broken SSE event), ``disconnect`` (the server drops the connection mid-stream,
after ``after`` tokens) and ``unparsable`` (prose where JSON was asked for).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import urllib.request
from typing import Any

from baml_magic.local_llm import _expect
from baml_magic.local_llm._server import DEFAULT_TPS, DEFAULT_WORDS, FAULTS, make_server

__all__ = ["DEFAULT_TPS", "DEFAULT_WORDS", "FAULTS", "LocalLLM", "main", "make_server", "start", "use"]


class LocalLLM:
    """A local_llm server running in its own process."""

    def __init__(self, process: subprocess.Popen[str], host: str, port: int) -> None:
        self.process = process
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL to give a BAML client (ends in /v1)."""
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        """Every request the server has seen since the last reset, and the in-flight counts."""
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=5) as response:
            stats: dict[str, Any] = json.load(response)
            return stats

    def requests(self) -> list[dict[str, Any]]:
        return list(self.stats()["requests"])

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_reset", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass

    def stop(self) -> None:
        _expect.unserve(self.base_url)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdout, self.process.stdin):
            if pipe:
                pipe.close()

    def __enter__(self) -> LocalLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process.poll() is None else "stopped"
        return f"<LocalLLM {self.base_url} {state}>"


def start(port: int = 0, tps: float = DEFAULT_TPS, words: int = DEFAULT_WORDS,
          host: str = "127.0.0.1", timeout: float = 15.0) -> LocalLLM:
    """Start the server in a new process (its own session, so a kernel interrupt spares it) that exits when this
    process does, however it ends: its stdin is a pipe from here, which the OS closes when this process dies."""
    command = [sys.executable, "-m", "baml_magic.local_llm", "--host", host, "--port", str(port),
               "--tps", str(tps), "--words", str(words), "--until-stdin-closes"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, start_new_session=True)
    assert process.stdout is not None  # stdout=PIPE
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    match = re.search(r":(\d+)/v1", line)
    if not match:
        process.kill()
        raise RuntimeError(f"local_llm did not start within {timeout:.0f} s (said {line.strip()!r})")
    server = LocalLLM(process, host, int(match.group(1)))
    atexit.register(server.stop)
    _expect.serve(server.base_url)  # its declared types are told to it (baml_magic's call hook)
    return server


def use(tps: float = DEFAULT_TPS, words: int = DEFAULT_WORDS, variable: str = "LOCAL_LLM_BASE_URL") -> str:
    """For notebooks: the server ``variable`` points at, starting one (and setting it) when it is unset."""
    if not os.environ.get(variable):
        os.environ[variable] = start(tps=tps, words=words).base_url
    _expect.serve(os.environ[variable])
    return os.environ[variable]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m baml_magic.local_llm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--tps", type=float, default=DEFAULT_TPS, help="tokens per second")
    parser.add_argument("--words", type=int, default=DEFAULT_WORDS, help="words in a long string field")
    parser.add_argument("--until-stdin-closes", action="store_true",
                        help="exit when standard input closes (start() passes it: the server ends with its parent)")
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port, args.tps, args.words)
    except OSError as exc:
        print(f"local_llm: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    if args.until_stdin_closes:
        def lifeline() -> None:
            while sys.stdin.buffer.read(4096):
                pass
            server.shutdown()

        threading.Thread(target=lifeline, daemon=True, name="local_llm-lifeline").start()
    host, port = server.server_address[:2]
    print(f"local_llm listening on http://{host!s}:{port}/v1", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.1)
    server.server_close()
    os._exit(0)

