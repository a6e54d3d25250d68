"""The session's BAML v1 sources (cells and folders) compiled into the bridge's runtime, and what to bind.

v1 lives beside v0 in one kernel: its own sources, its own runtime, the same ``Compiled`` record so
``BamlFunction`` calls, streams, maps and views work on either engine. A cell run again replaces its
own source; a compile that fails changes nothing (the bridge keeps the runtime it had).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import types as pytypes
from typing import Any, Optional

from baml_magic._errors import BamlCompileError, Diagnostic, interrupted
from baml_magic._redact import remember, watch
from baml_magic.engine._seam import Compiled, FunctionSpec, Project, TypeModules
from baml_magic.engine.v1 import _bridge as v1bridge
from baml_magic.engine.v1 import _types as v1types
from baml_magic.engine.v1._blocks import declarations, newest_wins
from baml_magic.engine.v1._engine import V1Engine
from baml_magic.sources import Source, literal_secrets, url_references

_DIAGNOSTIC = re.compile(r"(?P<path>[\w./-]+\.baml):(?P<line>\d+):\d+(?:-\d+:\d+)?\s+(?P<severity>error|warning)"
                         r"(?:\[\w+\])?:\s*(?P<text>.*?)(?=\s*[\w./-]+\.baml:\d+:\d+|$)", re.S)
_CLIENT = re.compile(r"^\s*client\s*:?\s*([A-Za-z_][\w\"/.-]*)", re.M)
_HIDDEN = ("client", "on_event")  # what v1 adds to every LLM function's parameters


class V1Project(Project):
    """v1 sources in run order, and the last program that compiled (in the bridge's runtime)."""

    # A v1 check starts a runtime of its own, which compiles BAML's standard library first: 3.5-7 s on an idle
    # 2-core machine, twice that next to a busy browser. Its deadline leaves room for that.
    check_seconds = 30.0

    def check_files(self, ordered: list[Source]) -> tuple[dict[str, str], str]:
        files = dict(zip([s.filename for s in ordered], newest_wins([s.text for s in ordered]), strict=True))
        return files, v1bridge.COMPILE_SCRIPT

    def diagnostics(self, problem: str, source: Source) -> list[tuple[str, str, int]]:
        return [(severity, message, line) for severity, message, path, line in parse_diagnostics(problem)
                if source.filename.endswith("/" + path.rsplit("/", 1)[-1])]

    def _compile(self, ordered: list[Source]) -> Compiled:
        return compile_sources(ordered, self.compiled.files if self.compiled else None)

    def restore(self, sources: dict[str, Source], compiled: Compiled | None) -> None:
        """The bridge's runtime holds one program per process: a refused update compiles the one before back,
        with its types, so the functions bound before call what they called."""
        if compiled is not None and compiled is not self.compiled:
            v1bridge.compile_program(compiled.files)
            module = compiled.types.types
            v1bridge.install_types({n: v for n, v in vars(module).items() if isinstance(v, type)
                                    and getattr(v, "__module__", None) == module.__name__})
        super().restore(sources, compiled)


def _in_background(files: dict[str, str], previous: dict[str, str] | None) -> list[str]:
    """Compile on a thread of its own, waiting in short waits.

    The bridge holds the GIL while it compiles (about a second), so an interrupt lands only when the compile
    has ended, by which time the runtime holds the new program: the one before is compiled back, so the
    runtime and the bound functions agree, and nothing has changed.
    """
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["rows"] = v1bridge.compile_program(files)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="baml_magic-v1-compile", daemon=True)
    try:
        thread.start()  # the compile may take the GIL before start() returns: the interrupt can land here too
        while thread.is_alive():
            thread.join(0.05)
    except KeyboardInterrupt:
        with contextlib.suppress(RuntimeError):  # a thread that never started: nothing ran
            thread.join()
        if "rows" in box and previous is not None:
            v1bridge.compile_program(previous)
        raise interrupted("compiling BAML v1", "nothing changed") from None
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["rows"]  # type: ignore[return-value]


def compile_sources(ordered: list[Source], previous: dict[str, str] | None = None) -> Compiled:
    """Compile every v1 source into the bridge's runtime; types and specs from its reflection.

    ``previous``: the files the runtime holds now (compiled back if an interrupt stops this compile).
    """
    by_file = {s.filename: s for s in ordered}
    # The values of every variable a v1 source reads (`env.NAME`) are secrets, whatever they are called, but a URL's.
    read = [url_references(s.text) for s in ordered]
    watch({name for _, secret in read for name in secret}, urls={name for url, _ in read for name in url})
    for s in ordered:
        remember(*literal_secrets(s.text))  # values written in a secret position (a literal api_key)
    v1bridge.bridge()  # V1Unavailable, one line, when the extra is missing
    started = time.monotonic()
    try:
        files = dict(zip([s.filename for s in ordered], newest_wins([s.text for s in ordered]), strict=True))
        rows = _in_background(files, previous)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the bridge's compile errors are panics, not Exceptions
        raise compile_error(v1bridge.one_line(exc), by_file) from None
    described = v1types.read_rows(rows)
    module = v1types.build(described)
    v1bridge.install_types({name: getattr(module, name) for name in (*described.classes, *described.enums)})
    names = [n for n in described.functions if "@" not in n and n != v1bridge.DESCRIBE]
    llm = {n for n in names if f"{n}@build_request" in described.functions}
    omitted = {n: {p for p, _, optional in described.params.get(n, []) if optional} for n in names}
    functions = {name: _spec(name, described, module, ordered, name in llm) for name in names}
    engine = V1Engine(llm, {n for n in names if f"{n}@stream" in described.functions}, omitted,
                      {n: spec.client for n, spec in functions.items()})
    bindable = {n for n, spec in functions.items()
                if (source := _source_of(spec.source_key, ordered)) is None or source.selected is None
                or n in source.selected}
    notes = [f"{s.label}: BAML v1 (experimental), compiled in {time.monotonic() - started:.2f} s" for s in ordered]
    # Each client's declaration, so a call checks the variables its client reads first (as v0's blocks are).
    clients = {name: text[start:end] for text in files.values() for kind, name, start, end in declarations(text)
               if kind == "value" and text[start:end].lstrip().startswith("client")}
    return Compiled(engine, TypeModules(module, module), functions, clients, files, bindable, notes=notes,
                    engine_name="v1")


def _source_of(key: str, ordered: list[Source]) -> Source | None:
    return next((s for s in ordered if s.key == key), None)


def _spec(name: str, described: v1types.Described, module: pytypes.ModuleType, ordered: list[Source], llm: bool,
          ) -> FunctionSpec:
    params = described.params.get(name, [])
    if llm:
        params = [p for p in params if p[0] not in _HIDDEN]
    named = {n: None for n in (*described.classes, *described.enums)}

    def typed(text: str) -> Any:
        return v1types.resolve(v1types.python_type(text, named), module)

    # A parameter with a BAML default may be left out: None in Python, dropped before the call (V1Engine.omitted).
    annotated = tuple((p, Optional[typed(t)] if optional else typed(t))  # noqa: UP045
                      for p, t, optional in params)
    returns_text = described.functions[name]
    header = f"function {name}({', '.join(f'{p}: {t}' for p, t, _ in params)}) -> {returns_text}"
    where, key, client, text = "the v1 program", "", None, ""
    pattern = re.compile(rf"^\s*function\s+{re.escape(name)}\b", re.M)
    for source in reversed(ordered):
        found = pattern.search(source.text)
        if found:
            line = source.text.count("\n", 0, found.start()) + 1
            where = f"{source.label}, line {line}" if source.is_cell else f"{source.label}:{line}"
            key = source.key
            body = source.text[found.end():].split("\nfunction", 1)[0]
            text = source.text[found.start():found.end()] + body
            client = (m.group(1).strip('"') if (m := _CLIENT.search(body)) else None) if llm else None
            break
    return FunctionSpec(name=name, params=annotated, returns=typed(returns_text), client=client, prompt=None,
                        baml_signature=header, where=where, source_key=key, source=text.strip())


def parse_diagnostics(message: str) -> list[tuple[str, str, str, int]]:
    """(severity, message, file, line) for each diagnostic in the bridge's compile message."""
    return [(found.group("severity"), " ".join(found.group("text").split()),
             found.group("path").split(f"{v1bridge.ROOT}/", 1)[-1], int(found.group("line")))
            for found in _DIAGNOSTIC.finditer(message)]


def compile_error(message: str, by_file: dict[str, Source]) -> BamlCompileError:
    """The bridge's compile message, each error at its cell's own line (or file:line), the line shown."""
    diagnostics: list[Diagnostic] = []
    for severity, text, path, line in parse_diagnostics(message):
        if severity != "error":
            continue
        source = by_file.get(path) or next((s for f, s in by_file.items() if f.rsplit("/", 1)[-1] == path), None)
        if source is None:
            diagnostics.append(Diagnostic("error", text, path, line, ""))
            continue
        lines = source.text.splitlines()
        diagnostics.append(Diagnostic("error", text, source.label, line,
                                      lines[line - 1] if 0 < line <= len(lines) else ""))
    return BamlCompileError(diagnostics, message)
