"""Arize Phoenix on 127.0.0.1 as a real tracing backend for tests: an OTLP/HTTP endpoint, and its REST API
to read the spans back (``GET /v1/projects/{project}/spans``).

It runs from its own venv (``make test`` installs it in ``.venv-phoenix``; ``BAML_MAGIC_PHOENIX`` may
name another ``phoenix`` executable), in a scratch working directory, on free ports.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parents[2] / ".venv-phoenix" / "bin" / "phoenix"


def executable() -> Path | None:
    """The ``phoenix`` command to run, if it is installed."""
    named = os.environ.get("BAML_MAGIC_PHOENIX")
    path = Path(named) if named else DEFAULT
    return path if path.exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Phoenix:
    """A running Phoenix: ``endpoint`` (for ``OTEL_EXPORTER_OTLP_ENDPOINT``) and ``spans()``."""

    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.endpoint = url  # OTLP/HTTP: the exporter adds /v1/traces
        self.process = process

    def spans(self, project: str = "default") -> list[dict[str, Any]]:
        """Every span of a project, oldest first."""
        found: list[dict[str, Any]] = []
        cursor = ""
        while True:
            query = f"?limit=1000{'&cursor=' + cursor if cursor else ''}"
            with urllib.request.urlopen(f"{self.url}/v1/projects/{project}/spans{query}", timeout=10) as response:
                page = json.loads(response.read())
            found += page["data"]
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return sorted(found, key=lambda s: s["start_time"])


@contextmanager
def phoenix_server(workdir: Path, command: Path) -> Iterator[Phoenix]:
    """Phoenix started in ``workdir`` and stopped at the end (it takes some seconds to start)."""
    port = _free_port()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(workdir), "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(_free_port()), "PHOENIX_HOST": "127.0.0.1"}
    log = (workdir / "phoenix.log").open("wb")
    process = subprocess.Popen([str(command), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/projects", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Phoenix did not start: {(workdir / 'phoenix.log').read_text()[-2000:]}") \
                        from None
                time.sleep(0.2)
        yield Phoenix(url, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
