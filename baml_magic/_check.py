"""Errors as you type: a ``%%baml`` cell's text checked against the session's project, binding nothing.

The editor extension sends the cell's text over a comm (``baml_magic.check``) after a pause in
typing; the kernel compiles it with the project's other sources the way running the cell would
(BAML's own compiler, no generator), and answers with BAML's diagnostics placed on the cell's
lines and, where the message names the word, its columns. Nothing in the session changes. Comm
messages wait while the kernel runs a cell, so a check never interrupts one.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any

import baml_py
from baml_py.errors import BamlError

from baml_magic._errors import ShortError, parse_diagnostics
from baml_magic._project import SOURCE_ROOT, Project, cell_source, effective_files

COMM_TARGET = "baml_magic.check"
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


def check_cell(project: Project, cell_id: str | None, text: str) -> list[Mark]:
    """BAML's diagnostics for a ``%%baml`` cell's text (first line included) with the project around it."""
    body = text.split("\n", 1)[1] if text.startswith("%%baml") and "\n" in text else ""
    source = cell_source(cell_id or "checked", "cell", body)
    ordered = [s for k, s in project.sources.items() if k != source.key] + [source]
    lines = text.splitlines()
    try:
        files, _ = effective_files(ordered)
        baml_py.BamlRuntime.from_files(SOURCE_ROOT, {f"{SOURCE_ROOT}/{n}": t for n, t in files.items()},
                                       dict(os.environ))
    except (BamlError, ShortError) as exc:
        marks = []
        for severity, message, path, line in parse_diagnostics(str(exc)):
            if not path.endswith(source.filename) or not 0 < line <= len(lines):
                continue
            start, end = _place(lines[line - 1], message)
            marks.append(Mark(line, start, end, severity, message))
        return marks
    except Exception:  # noqa: BLE001 - text the lexer can't read yet (mid-typing): nothing to say
        return []
    return []


def register(shell: Any, project_of: Any) -> bool:
    """Answer the editor's checks on this kernel's comm channel; False where there is no kernel (a terminal)."""
    kernel = getattr(shell, "kernel", None)
    manager = getattr(kernel, "comm_manager", None)
    if manager is None:
        return False

    def opened(comm: Any, _open_msg: Any) -> None:
        def on_msg(msg: Any) -> None:
            data = msg.get("content", {}).get("data", {})
            marks = check_cell(project_of(), data.get("cell_id"), str(data.get("code", "")))
            comm.send({"id": data.get("id"), "diagnostics": [asdict(m) for m in marks]})

        comm.on_msg(on_msg)

    manager.register_target(COMM_TARGET, opened)
    return True


def unregister(shell: Any) -> None:
    manager = getattr(getattr(shell, "kernel", None), "comm_manager", None)
    if manager is not None:
        manager.unregister_target(COMM_TARGET, None)
