"""The project's BAML ``test`` blocks, run by BAML's own test runner (``baml-cli test``).

The runner keeps BAML's semantics for args, ``@@assert`` and ``@@check``; this module gives it
the session's compiled files (with the session's client override applied), reports progress
while it runs, turns its report into rows, and stops it (closing its requests) on an interrupt.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from baml_magic._errors import BamlFunctionNotFound, clean_message
from baml_magic._redact import redact
from baml_magic._render import Table
from baml_magic.engine import BamlCli, Compiled
from baml_magic.sources import MADE_MARK, rebase_files, segments, split_blocks
from baml_magic.views import StatusLine

_RESULT = re.compile(r"^\s*([\d.]+)s\s+([A-Z][A-Z _\-]*?)\s+(\w+)::(\w+)\s*$")
_FINISHED_CALL = re.compile(r"\[BAML \w+\] Function \w+:")
_CLIENT_LINE = re.compile(r'^(\s*client\s+)("[^"]+"|[\w/\-.]+)', re.M)


@dataclass(frozen=True)
class TestResult:
    test: str
    function: str
    status: str  # PASSED | FAILED | ERROR | ...
    reason: str
    duration: float

    @property
    def passed(self) -> bool:
        return self.status == "PASSED"


def with_client(text: str, client: str) -> str:
    """The text with every function's ``client`` line pointing at ``client``."""
    blocks = [b for b in split_blocks(text) if b.kind == "function"]
    quoted = f'"{client}"' if "/" in client else client
    for block in sorted(blocks, key=lambda b: b.start, reverse=True):
        body = _CLIENT_LINE.sub(lambda m: m.group(1) + quoted, text[block.start:block.end], count=1)
        text = text[:block.start] + body + text[block.end:]
    return text


def parse_report(output: str) -> list[TestResult]:
    """Rows from the runner's closing report."""
    results: list[TestResult] = []
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        match = _RESULT.match(lines[i])
        i += 1
        if not match:
            continue
        detail: list[str] = []
        # A result's details are the indented lines under it; "function X" and "N tests" headers are not.
        while i < len(lines) and not _RESULT.match(lines[i]) and lines[i][:1] in (" ", "\t"):
            detail.append(lines[i].strip())
            i += 1
        reason = " ".join(d for d in detail[1:] if d)  # detail[0] is the test's file:line
        results.append(TestResult(match.group(4), match.group(3), match.group(2).strip(), reason,
                                  float(match.group(1))))
    return results


def with_files_from(text: str, origin: Path, written: Path) -> str:
    """The text's test blocks with each relative ``file "path"`` made to point, from where the text is
    written, at the file it names from where the text came from."""
    def rebase(path: str) -> str:
        if "://" in path or os.path.isabs(path):
            return path
        return os.path.relpath(origin.parent / path, written.parent)

    out = []
    for start, end, block in segments(text):
        piece = text[start:end]
        out.append(rebase_files(piece, rebase) if block is not None and block.kind == "test" else piece)
    return "".join(out)


CHUNK = 500  # made tests a run of BAML's runner compiles at most (its compile grows with the square of tests)


def chunks(files: dict[str, str]) -> list[dict[str, str]]:
    """The files each run of BAML's runner gets: the project with at most ``CHUNK`` made tests; the project's own
    test blocks only in the first run."""
    made = {name: text for name, text in files.items() if text.startswith(MADE_MARK)}
    blocks = [(name, text[b.start:b.end]) for name, text in made.items()
              for b in split_blocks(text) if b.kind == "test"]
    if len(blocks) <= CHUNK:
        return [files]
    project = {name: text for name, text in files.items() if name not in made}
    bare = {name: "".join(text[s:e] for s, e, b in segments(text) if b is None or b.kind != "test")
            for name, text in project.items()}
    out = []
    for start in range(0, len(blocks), CHUNK):
        chunk: dict[str, str] = dict(project if start == 0 else bare)
        for name, text in blocks[start:start + CHUNK]:
            chunk[name] = chunk.get(name, MADE_MARK + "\n") + text + "\n"
        out.append(chunk)
    return out


def run(files: dict[str, str], functions: list[str], client: str | None,
        progress: Callable[[int, str], None], origins: dict[str, Path] | None = None) -> list[TestResult]:
    """Run the tests of ``functions`` (all when empty); ``progress(calls_finished, line)`` as they go.

    ``origins`` gives each file's own path, so that media files named by relative path resolve. Many made
    tests run in chunks, each compiled apart.
    """
    results: list[TestResult] = []
    finished = 0

    def counted(n: int, line: str) -> None:
        progress(finished + n, line)

    for chunk in chunks(files):
        found = _run_once(chunk, functions, client, counted, origins)
        finished += len(found)
        results.extend(found)
    return results


def _run_once(files: dict[str, str], functions: list[str], client: str | None,
              progress: Callable[[int, str], None], origins: dict[str, Path] | None) -> list[TestResult]:
    with tempfile.TemporaryDirectory(prefix="baml_magic_test_") as tmp:
        src = Path(tmp, "baml_src")
        for name, text in files.items():
            path = src / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if origins and name in origins:
                text = with_files_from(text, origins[name], path)
            path.write_text(with_client(text, client) if client else text)
        includes = [arg for function in functions for arg in ("-i", f"{function}::")]
        # INFO logs mark each finished call: that is the progress this module reports.
        output: list[str] = []
        finished = 0
        with BamlCli("test", "--from", str(src), "--pass-if-no-tests", *includes, cwd=Path(tmp), log="info") as cli:
            for line in cli.lines():
                output.append(line)
                if _FINISHED_CALL.search(line):
                    finished += 1
                    progress(finished, line)
            code = cli.wait()
        text = clean_message("".join(output))
        results = parse_report(text)
        if not results and code != 0:
            raise RuntimeError(redact(f"BAML's test runner failed: {text[-2000:]}"))
        return results


def table(results: list[TestResult]) -> Table:
    """``%baml test --cli``'s results: test, function, pass or BAML's status, the reason, the duration."""
    rows = [[r.test, r.function, "pass" if r.passed else r.status.lower(), r.reason, f"{r.duration:.2f} s"]
            for r in results]
    return Table(["test", "function", "result", "reason", "duration"], rows, "baml-magic-tests", "no BAML test blocks")


def run_command(compiled: Compiled, functions: list[str], client: str | None, display: str) -> Table:
    """``%baml test --cli``: BAML's own runner over the project, with a progress line, as a table."""
    unknown = [a for a in functions if a not in compiled.functions]
    if unknown:
        raise BamlFunctionNotFound(f"no function {', '.join(unknown)}; the project defines: "
                                   f"{', '.join(sorted(compiled.functions))}")
    line = StatusLine("running BAML tests…", display)
    results = run(compiled.files, functions, client,
                  lambda n, _: line.update(f"running BAML tests… {n} call{'s' if n != 1 else ''} done"),
                  compiled.origins)
    passed = sum(r.passed for r in results)
    line.update(f"{len(results)} test{'s' if len(results) != 1 else ''}: {passed} passed, "
                f"{len(results) - passed} failed")
    return table(results)
