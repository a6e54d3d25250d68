"""v0's project: cells and folders compiled by baml-py into one runtime, and BAML's generator's types.

The sources' order, the newest definition winning and a failed compile changing nothing are the seam's
(``_seam.Project``); this module is how v0 checks and compiles them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from baml_py.errors import BamlError

from baml_magic._errors import (
    BamlCompileError,
    Diagnostic,
    clean_message,
    parse_diagnostics,
)
from baml_magic._redact import remember, watch
from baml_magic.engine._seam import Compiled, FunctionSpec, Project
from baml_magic.engine.v0 import _codegen as codegen
from baml_magic.engine.v0._engine import COMPILE_SCRIPT, V0Engine
from baml_magic.sources import (
    MADE_MARK,
    SOURCE_ROOT,
    Block,
    FunctionFacts,
    Source,
    aliases,
    effective_files,
    function_facts,
    literal_secrets,
    one_line_options,
    split_blocks,
    url_references,
)
from baml_magic.wire import SHORTHAND_KEYS


class V0Project(Project):
    """v0 sources in run order, compiled by baml-py (what ``%%baml`` cells are by default)."""

    def check_files(self, ordered: list[Source]) -> tuple[dict[str, str], str]:
        return effective_files(ordered)[0], COMPILE_SCRIPT

    def diagnostics(self, problem: str, source: Source) -> list[tuple[str, str, int]]:
        return [(severity, message, line) for severity, message, path, line in parse_diagnostics(problem)
                if path.endswith(source.filename)]

    def _compile(self, ordered: list[Source]) -> Compiled:
        return compile_sources(ordered, self.cache_dir)


def generator_files(ordered: list[Source], live: dict[str, list[Block]], files: dict[str, str],
                    facts: dict[tuple[str, str], FunctionFacts]) -> dict[str, str]:
    """The project as BAML's generator needs to see it: types and signatures, not prompts.

    Each function's body becomes its client and an empty prompt (on as many lines), so an edited
    prompt leaves the generator's input, and so its cached output, as it was.
    """
    out: dict[str, str] = {}
    for s in ordered:
        text = files[s.filename]
        for block in sorted(live[s.key], key=lambda b: b.start, reverse=True):
            fact = facts.get((s.key, block.name)) if block.kind == "function" else None
            if fact is None or fact.body is None or fact.client is None:
                continue
            body_start = block.start + fact.body
            newlines = text.count("\n", body_start, block.end)
            if newlines < 3:  # the stand-in body needs three lines; the generator's line numbers must hold
                continue
            client = f'"{fact.client}"' if "/" in fact.client else fact.client
            body = "{\n  client " + client + '\n  prompt #""#\n' + "\n" * (newlines - 3) + "}"
            text = text[:body_start] + body + text[block.end:]
        out[s.filename] = text
    return out


def compile_sources(ordered: list[Source], cache_dir: Path) -> Compiled:
    """Compile sources (earlier first) into a runtime, generated types and function specs.

    BAML's generator runs in a child process while the engine compiles the project in this one.
    """
    files, live = effective_files(ordered)
    by_file = {s.filename: s for s in ordered}
    _check_client_options(ordered, live)
    # The values of every variable a client reads are secrets, whatever the variable is called.
    read = [url_references(s.text[b.start:b.end]) for s in ordered for b in live[s.key] if b.kind == "client"]
    watch({name for _, secret in read for name in secret} | set(SHORTHAND_KEYS.values()),
          urls={name for url, _ in read for name in url})
    # ... and so are the values written into a client block in a secret position (a literal api_key, a header).
    for s in ordered:
        for b in live[s.key]:
            if b.kind == "client":
                remember(*literal_secrets(s.text[b.start:b.end]))
    facts = {(s.key, b.name): function_facts(s.text[b.start:b.end]) for s in ordered for b in live[s.key]
             if b.kind == "function"}
    # A file of made tests (a dataset) is the test runners' alone: BAML's compile grows with the square of tests.
    bound = {name: text for name, text in files.items() if not text.startswith(MADE_MARK)}
    shape = {name: text for name, text in generator_files(ordered, live, files, facts).items() if name in bound}
    try:
        generation = codegen.Generation(shape, cache_dir)
    except codegen.GeneratorError as exc:
        raise _compile_error(str(exc), by_file, "BAML's generator: ") from None
    try:
        engine = V0Engine.compile(SOURCE_ROOT, bound, dict(os.environ))
    except BamlError as exc:
        generation.cancel()
        raise _compile_error(str(exc), by_file) from None
    except KeyboardInterrupt:
        generation.cancel()
        raise
    try:
        try:
            client_dir = generation.finish()
        except KeyboardInterrupt:
            generation.cancel()
            raise
        try:
            types = codegen.load_types(client_dir)
            signatures = codegen.signatures(client_dir, types)
        except Exception:  # noqa: BLE001 - a cached generation someone damaged: make it again, once
            codegen.discard(client_dir)
            client_dir = codegen.generate(shape, cache_dir)
            types = codegen.load_types(client_dir)
            signatures = codegen.signatures(client_dir, types)
    except codegen.GeneratorError as exc:
        raise _compile_error(str(exc), by_file, "BAML's generator: ") from None

    functions: dict[str, FunctionSpec] = {}
    clients: dict[str, str] = {}
    located: dict[str, tuple[Source, FunctionFacts | None, int, str]] = {}  # function -> (source, facts, line, text)
    for s in ordered:
        for block in live[s.key]:
            if block.kind == "client":
                clients[block.name] = s.text[block.start:block.end]
            elif block.kind == "function":
                located[block.name] = (s, facts[(s.key, block.name)], block.line, s.text[block.start:block.end])
    bindable: set[str] = set()
    for name, sig in signatures.items():
        found = located.get(name) or _find_function(name, ordered)
        if found is None:  # compiled but not found in any text: bind it, placed in the project
            source, fact, where, text = None, None, "the project", ""
        else:
            source, fact, line, text = found
            where = f"{source.label}, line {line}" if source.is_cell else f"{source.label}:{line}"
        functions[name] = FunctionSpec(
            name=name,
            params=sig.params,
            returns=sig.returns,
            client=fact.client if fact else None,
            prompt=fact.prompt if fact else None,
            baml_signature=fact.header if fact else f"function {name}",
            where=where,
            source_key=source.key if source is not None else "",
            source=text,
        )
        if source is None or source.selected is None or name in source.selected:
            bindable.add(name)
    # A cell's relative paths (media in test blocks) are the notebook's: its working directory.
    origins = {s.filename: Path(s.key) if not s.is_cell else Path.cwd() / "cell.baml" for s in ordered}
    engine.use_types(types)
    notes = version_notes(ordered)
    renamed = {block.name: named for s in ordered for block in live[s.key] if block.kind in ("class", "enum")
               and (named := aliases(s.text[block.start:block.end]))}
    return Compiled(engine, types, functions, clients, files, bindable, origins, notes, renamed)


_VERSION = re.compile(r'^\s*version\s+"([^"]+)"', re.M)


def version_notes(ordered: list[Source]) -> list[str]:
    """A line for each generator block that names another BAML version than the one installed (as BAML's own
    CLI warns): the project still loads, with the installed runtime."""
    installed = codegen.baml_version()
    notes = []
    for s in ordered:
        for block in split_blocks(s.text):
            found = _VERSION.search(s.text[block.start:block.end]) if block.kind == "generator" else None
            if found is not None and found.group(1) != installed:
                notes.append(f"{s.label}: generator {block.name} names BAML {found.group(1)}; running with the "
                             f"installed baml-py {installed}")
    return notes


def _find_function(name: str, ordered: list[Source]) -> tuple[Source, FunctionFacts | None, int, str] | None:
    """Where ``function name`` stands in a source the lexer kept whole (the newest source first), with the
    source's text from there on (its end unsure)."""
    pattern = re.compile(rf"^[ \t]*function[ \t]+{re.escape(name)}\b", re.M)
    for s in reversed(ordered):
        match = pattern.search(s.text)
        if match is not None:
            return s, None, s.text.count("\n", 0, match.start()) + 1, s.text[match.start():]
    return None


def _check_client_options(ordered: list[Source], live: dict[str, list[Block]]) -> None:
    """Catch a mistake BAML accepts but cannot call: several client options on one line."""
    diagnostics = []
    for s in ordered:
        for block in live[s.key]:
            if block.kind != "client":
                continue
            offset = one_line_options(s.text[block.start:block.end])
            if offset is not None:
                line = block.line + offset - 1
                diagnostics.append(Diagnostic(
                    "error", f"client {block.name}: put each option on its own line (BAML reads "
                    "`options { a x  b y }` on one line as a single option, and the client fails when called)",
                    s.label, line, s.text.splitlines()[line - 1]))
    if diagnostics:
        raise BamlCompileError(diagnostics)


def _compile_error(message: str, by_file: dict[str, Source], prefix: str = "") -> BamlCompileError:
    diagnostics = []
    for severity, text, path, line in parse_diagnostics(message):
        text = prefix + text
        if severity != "error":
            continue
        name = path.split(f"{SOURCE_ROOT}/", 1)[-1]
        source = by_file.get(name)
        if source is None:
            diagnostics.append(Diagnostic(severity, text, path, line, ""))
            continue
        lines = source.text.splitlines()
        source_line = lines[line - 1] if 0 < line <= len(lines) else ""
        diagnostic = Diagnostic(severity, text, source.label, line, source_line)
        if diagnostic not in diagnostics:
            diagnostics.append(diagnostic)
    return BamlCompileError(diagnostics, prefix + clean_message(message))


