"""Errors as you type: a ``%%baml`` cell's text checked against the session's project, binding nothing.

The editor extension sends the cell's text over a comm (``baml_magic.check``) after a pause in
typing; the kernel compiles it with the project's other sources the way running the cell would
(BAML's own compiler, no generator), and answers with BAML's diagnostics placed on the cell's
lines and, where the message names the word, its columns. Nothing in the session changes. Comm
messages wait while the kernel runs a cell, so a check never interrupts one.

BAML's compiler holds the GIL and is exponential in some inputs (types nested ten deep take
seconds), so it runs in a child process with a deadline: a check that takes too long says so under
the cell's first line, and the kernel stays free.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

from baml_magic._errors import ShortError
from baml_magic.engine import Project
from baml_magic.sources import SOURCE_ROOT, cell_source

COMM_TARGET = "baml_magic.check"
MAX_CHECKED_CHARS = 1_000_000
_NAMED = re.compile(r"`([^`\n]{1,80})`")


@dataclass(frozen=True)
class Mark:
    """One diagnostic for the editor: 1-based line of the cell, 0-based columns on it, severity, message."""

    line: int
    start: int
    end: int
    severity: str
    message: str


def _place(line_text: str, message: str) -> tuple[int, int]:
    """The columns to underline: the first word the message names in backticks, else the line's text."""
    for name in _NAMED.findall(message):
        at = line_text.find(name)
        if at >= 0:
            return at, at + len(name)
    stripped = line_text.strip()
    start = line_text.find(stripped) if stripped else 0
    return start, start + max(1, len(stripped))


def _compile(files: dict[str, str], seconds: float, script: str) -> str | None:
    """BAML's compiler message for these files (None: they compile), in a child process that is ended at the
    deadline (``TimeoutError``)."""
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env={**os.environ, "RUST_BACKTRACE": "0"})
    try:
        out, _ = child.communicate(json.dumps({"root": SOURCE_ROOT, "files": files}).encode(), timeout=seconds)
    except BaseException:  # the deadline, or an interrupt: the compiler goes with its process
        child.kill()
        child.wait()
        raise
    message: str | None = json.loads((out or b"null").splitlines()[-1])
    return message


def engine_of(first_line: str) -> str | None:
    """The engine a cell's first line names (``%%baml --engine v1``), else None (the session's default)."""
    found = re.search(r"--engine[=\s]+(v0|v1)\b", first_line, re.I)
    return found.group(1).lower() if found else None


def check_cell(project: Project, cell_id: str | None, text: str, seconds: float | None = None) -> list[Mark]:
    """BAML's diagnostics for a ``%%baml`` cell's text (first line included) with the project around it
    (``seconds``: the deadline, else the engine's own)."""
    body = text.split("\n", 1)[1] if text.startswith("%%baml") and "\n" in text else ""
    lines = text.splitlines()
    first = lines[0] if lines else ""
    if len(text) > MAX_CHECKED_CHARS:
        return [Mark(1, 0, len(first), "warning", f"this cell is too large to check as you type "
                                                  f"({len(text):,} characters); run it to compile it")]
    source = cell_source(cell_id or "checked", "cell", body)
    ordered = [s for k, s in project.sources.items() if k != source.key] + [source]
    seconds = seconds if seconds is not None else project.check_seconds
    try:
        files, script = project.check_files(ordered)
        problem = _compile(files, seconds, script)
    except subprocess.TimeoutExpired:
        return [Mark(1, 0, len(first), "warning", f"BAML took more than {seconds:g} s to check this cell (types "
                                                  "nested very deep?); run it to compile it")]
    except ShortError as exc:
        problem = str(exc)
    except Exception:  # noqa: BLE001 - text the lexer can't read yet (mid-typing): nothing to say
        return []
    if problem is not None:
        marks = []
        for severity, message, line in project.diagnostics(problem, source):
            if not 0 < line <= len(lines):
                continue
            start, end = _place(lines[line - 1], message)
            marks.append(Mark(line, start, end, severity, message))
        return marks
    return []


def register(shell: Any, project_of: Any) -> bool:
    """Answer the editor's checks on this kernel's comm channel; False where there is no kernel (a terminal)."""
    kernel = getattr(shell, "kernel", None)
    manager = getattr(kernel, "comm_manager", None)
    if manager is None:
        return False

    def opened(comm: Any, _open_msg: Any) -> None:
        def on_msg(msg: Any) -> None:
            data = (msg.get("content") or {}).get("data") if isinstance(msg, dict) else None
            if not isinstance(data, dict) or not isinstance(data.get("code"), str):
                return  # not a check request: nothing to answer
            cell_id = data.get("cell_id") if isinstance(data.get("cell_id"), str) else None
            marks = check_cell(project_of(engine_of(data["code"].split("\n", 1)[0])), cell_id, data["code"])
            comm.send({"id": data.get("id") if isinstance(data.get("id"), (str, int)) else None,
                       "diagnostics": [asdict(m) for m in marks]})

        comm.on_msg(on_msg)

    manager.register_target(COMM_TARGET, opened)
    return True


def unregister(shell: Any) -> None:
    manager = getattr(getattr(shell, "kernel", None), "comm_manager", None)
    if manager is not None:
        manager.unregister_target(COMM_TARGET, None)
