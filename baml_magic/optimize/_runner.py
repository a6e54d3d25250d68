"""BAML's prompt optimizer (``baml-cli optimize --beta``, GEPA) on the session's project, in a child process.

Its folder holds the project as the session compiled it (``baml_src/``), the optimizer's own reflection
project (``.baml_optimize/gepa/``) with its reflection client pointed at a client of the project, and
the run's artifacts (``run/``). The child never waits on stdin (it reads an empty one: a question it
would ask is an error here, in one line); a live view reads the artifacts while it runs; an interrupt
stops it and keeps every candidate written so far.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from baml_magic._errors import clean_message
from baml_magic._redact import redact
from baml_magic.engine import BamlCli, Compiled
from baml_magic.evaluation import with_client, with_files_from
from baml_magic.optimize._result import OptimizerError, OptimizeResult
from baml_magic.sources import split_blocks

REFLECTION = "ReflectionModel"  # the client name the optimizer's reflection functions call
_ITERATION = re.compile(r"\[Iteration (\d+)/(\d+)\]")
_HEADER = re.compile(r"^(\s*client\s*<\s*llm\s*>\s*)(\w+)")
_AUTO = ("light", "medium", "heavy")


@dataclass(frozen=True)
class Budget:
    """How much the optimizer may spend: BAML's own options, checked before it starts."""

    trials: int | None = None
    max_evals: int | None = None
    auto: str | None = None
    weights: str | None = None  # "accuracy=0.8,tokens=0.2"
    tests: tuple[str, ...] = ()

    def arguments(self) -> list[str]:
        out: list[str] = []
        for flag, value in (("--trials", self.trials), ("--max-evals", self.max_evals)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"{flag[2:].replace('-', '_')} must be a whole number of 1 or more, got {value!r}")
                out += [flag, str(value)]
        if self.auto is not None:
            if self.auto not in _AUTO:
                raise ValueError(f"auto must be one of {', '.join(_AUTO)}, got {self.auto!r}")
            out += ["--auto", self.auto]
        if self.weights:
            for part in self.weights.split(","):
                name, _, weight = part.partition("=")
                if name.strip() not in ("accuracy", "tokens", "latency", "prompt_tokens", "completion_tokens") or \
                        not re.fullmatch(r"\s*\d+(\.\d+)?\s*", weight):
                    raise ValueError(f"weights: name=number pairs of accuracy, tokens, latency, prompt_tokens, "
                                     f"completion_tokens (e.g. accuracy=0.8,tokens=0.2), got {self.weights!r}")
            out += ["--weight", self.weights.replace(" ", "")]
        for pattern in self.tests:
            out += ["--test", pattern]
        return out

    def objectives(self) -> list[str]:
        if not self.weights:
            return ["accuracy"]
        return [part.split("=", 1)[0].strip() for part in self.weights.split(",")]


def reflection_clients(compiled: Compiled, client: str) -> str:
    """The reflection project's clients: every client and retry policy of the project, and ``client`` again
    under the name the optimizer calls (a ``provider/model`` shorthand becomes a client of its own)."""
    blocks = []
    for text in compiled.files.values():
        for block in split_blocks(text):
            if block.kind in ("client", "retry_policy") and block.name != REFLECTION:
                blocks.append(text[block.start:block.end])
    if client in compiled.clients:
        blocks.append(_HEADER.sub(lambda m: m.group(1) + REFLECTION, compiled.clients[client], count=1))
    elif "/" in client:
        provider, model = client.split("/", 1)
        blocks.append(f'client<llm> {REFLECTION} {{\n  provider "{provider}"\n  options {{\n    model "{model}"\n'
                      "  }\n}")
    else:
        raise OptimizerError(f"no client {client} in the project for the reflection model")
    return "\n\n".join(blocks) + "\n"


def prepare(folder: Path, compiled: Compiled, client_override: str | None, reflection: str) -> Path:
    """The optimizer's folder: the project's files, its reflection project (BAML's defaults, then our client)."""
    src = folder / "baml_src"
    for name, text in compiled.files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name in compiled.origins:
            text = with_files_from(text, compiled.origins[name], path)
        path.write_text(with_client(text, client_override) if client_override else text)
    setup = BamlCli("optimize", "--beta", "--reset-gepa-prompts", "--from", str(src), cwd=folder)
    try:
        said = setup.output(timeout=60)
    except subprocess.TimeoutExpired:
        raise OptimizerError("BAML's optimizer did not set up its reflection project within 60 s") from None
    clients = folder / ".baml_optimize" / "gepa" / "baml_src" / "clients.baml"
    if setup.wait() != 0 or not clients.parent.exists():
        raise OptimizerError(f"BAML's optimizer could not set up: {_reason(said)}")
    clients.write_text(reflection_clients(compiled, reflection))
    return src


def _reason(output: str) -> str:
    """The optimizer's own reason for stopping, in one line."""
    lines = [line.strip() for line in clean_message(output).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith(("warning:", "Error:", "Optimization failed")):
            causes = [c.removeprefix("Caused by:").strip() for c in lines[i + 1:i + 4] if c.startswith("Caused by")]
            return " ".join([line.removeprefix("Optimization failed:").strip(), *causes]).strip() or line
    return lines[-1] if lines else "no output"


STALL_SECONDS = 180.0  # the longest the optimizer may go without a line or a file before it is stopped


def _newest(folder: Path) -> float:
    """When the optimizer last wrote a file in its output folder (0: none yet)."""
    times = [0.0]
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times)


def _watch(cli: BamlCli, folder: Path, heard: list[float], stalled: threading.Event) -> None:
    """Stop the optimizer when it has said nothing and written nothing for ``STALL_SECONDS`` (a model that never
    answers, a reflection that hangs): every wait of it has a cap."""
    while cli.running:
        time.sleep(min(1.0, STALL_SECONDS / 4))
        quiet = time.time() - max(heard[0], _newest(folder))
        if quiet > STALL_SECONDS and cli.running:
            stalled.set()
            cli.stop()


def run(folder: Path, src: Path, function: str, budget: Budget, result: OptimizeResult) -> None:
    """Run the optimizer to its end (or an interrupt, which stops it and keeps what it wrote)."""
    cli = BamlCli("optimize", "--beta", "--from", str(src), "--function", function, "--no-ui",
                  "--output-dir", str(result.folder), *budget.arguments(), cwd=folder)
    output: list[str] = []
    heard, stalled = [time.time()], threading.Event()
    threading.Thread(target=_watch, args=(cli, result.folder, heard, stalled), daemon=True,
                     name="baml-magic-optimize-watch").start()
    try:
        for line in cli.lines():
            heard[0] = time.time()
            output.append(line)
            found = _ITERATION.search(line)
            if found:
                result.iteration = f"{found.group(1)}/{found.group(2)}"
        code = cli.wait()
    except BaseException:
        cli.stop()
        result.status = "cancelled"
        raise
    finally:
        scrub_folder(folder)
    text = "".join(output)
    if stalled.is_set():
        result.status = "error"
        raise OptimizerError(f"BAML's optimizer said and wrote nothing for {STALL_SECONDS:g} s (a model that does "
                             "not answer?): it was stopped; the candidates it scored are kept")
    if "Do you want to continue" in text or any(line.strip() == "Aborted." for line in output):
        result.status = "error"
        raise OptimizerError(redact(f"{_reason(text)}: give more --max-evals or fewer --trials (the optimizer "
                                    "would ask to go on, and nobody answers it here)"))
    if code != 0:
        result.status = "error"
        raise OptimizerError(redact(f"BAML's optimizer stopped: {_reason(text)}"))
    result.status = "done"


SCRUBBED_MAX = 50_000_000  # bytes: a larger file is no text the optimizer wrote


def scrub_folder(folder: Path) -> int:
    """Every secret value out of the files in the optimizer's folder (what its child wrote, a reflection model that
    repeated a key, the project it ran on), once it has stopped; how many files changed."""
    changed = 0
    for path in folder.rglob("*"):
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > SCRUBBED_MAX:
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        clean = redact(text)
        if clean != text:
            with contextlib.suppress(OSError):
                path.write_text(clean, encoding="utf-8")
                changed += 1
    return changed
