"""BAML's command line (``baml-cli``) as a child process, run one way by the generator, the test runner and the
optimizer: its stdin closed (a question it asks is never waited on), its own session (stopped with its whole
group, so the requests it has open close with it), its output read as lines with every secret scrubbed.

Never in this process: ``invoke_runtime_cli`` installs a Ctrl-C handler of its own, which would take SIGINT
away from the kernel (and a second call panics).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from baml_magic._redact import redact


def cli(*args: str, log: str = "off") -> tuple[list[str], dict[str, str]]:
    """The command and environment that run BAML's CLI with ``args`` (``BAML_LOG=log``, no colour, no Rust
    backtrace whatever this environment sets)."""
    binary = Path(sys.executable).with_name("baml-cli")
    command = [str(binary)] if binary.exists() else [
        sys.executable, "-c", "import sys, baml_py; sys.exit(baml_py.invoke_runtime_cli())"]
    env = {**os.environ, "BAML_LOG": log, "NO_COLOR": "1"}
    env.pop("RUST_BACKTRACE", None)
    return [*command, *args], env


class BamlCli:
    """One run of ``baml-cli ARGS`` in ``cwd``; a context manager that stops it when its block raises (an
    interrupt included)."""

    def __init__(self, *args: str, cwd: Path | None = None, log: str = "off") -> None:
        command, env = cli(*args, log=log)
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def lines(self) -> Iterator[str]:
        """Its output (stdout and stderr as they interleave), a line at a time as it comes, secrets scrubbed."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            yield redact(line)

    def output(self, timeout: float | None = None) -> str:
        """All it says until it ends (``subprocess.TimeoutExpired`` after ``timeout`` seconds: it is stopped)."""
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(grace=0.0)
            raise
        return redact(out or "")

    def wait(self) -> int:
        """Its exit code, once it has ended."""
        return self.process.wait()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 3.0) -> None:
        """Stop it and every process it started: SIGINT to its group (``grace`` seconds to wind down), then
        SIGKILL."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):  # the group, even if its leader ended
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(wait)
            if not self.running:
                return

    def __enter__(self) -> BamlCli:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if error is not None:
            self.stop()

