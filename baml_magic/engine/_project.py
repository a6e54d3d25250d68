"""The session's BAML project: cells and folders in, one compiled runtime and its types out.

Sources are kept in the order they were last run. A definition in a later source replaces
a definition of the same name in an earlier one (as in Python, the newest wins), so an
edited cell can be run again, or a folder's class overridden from a cell, without
"duplicate definition" errors. A compile that fails changes nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from baml_py.errors import BamlError

from baml_magic._errors import (
    BamlCompileError,
    Diagnostic,
    clean_message,
    interrupted,
    parse_diagnostics,
)
from baml_magic._redact import remember, watch
from baml_magic.engine import Engine
from baml_magic.engine import _codegen as codegen
from baml_magic.engine.v0 import COMPILE_SCRIPT, V0Engine
from baml_magic.sources import _lexer as sources
from baml_magic.sources._blocks import (
    FunctionFacts,
    aliases,
    function_facts,
    literal_secrets,
    one_line_options,
    url_references,
)
from baml_magic.sources._source import SOURCE_ROOT, Source, effective_files
from baml_magic.sources._test_blocks import MADE_MARK
from baml_magic.wire._providers import SHORTHAND_KEYS


@dataclass(frozen=True)
class FunctionSpec:
    """What the project says of one function."""

    name: str
    params: tuple[tuple[str, object], ...]
    returns: object
    client: str | None
    prompt: str | None
    baml_signature: str
    where: str  # "cell In[3], line 12" or "baml_src/story.baml:12"
    source_key: str
    source: str = ""  # the function's BAML as written (its block), what a version of it is


@dataclass
class Compiled:
    """A compiled project: its engine, the generated types and what each function is."""

    engine: Engine
    types: codegen.TypeModules
    functions: dict[str, FunctionSpec]
    clients: dict[str, str]  # client name -> its block text
    files: dict[str, str]
    bindable: set[str] = field(default_factory=set)  # functions the user asked to bind
    origins: dict[str, Path] = field(default_factory=dict)  # file -> where its text came from
    notes: list[str] = field(default_factory=list)  # what a user should know of the load (versions)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # class or enum -> name -> its @alias
    engine_name: str = "v0"  # which engine's project this is (each engine's functions are rebound apart)


class Project:
    """Sources in run order, and the last project that compiled."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir or codegen.default_cache_dir()
        self.sources: dict[str, Source] = {}
        self.compiled: Compiled | None = None

    def update(self, new: list[Source], drop: tuple[str, ...] = ()) -> Compiled:
        """Add or replace sources (dropping the keys in ``drop``) and compile; on an error nothing changes."""
        replaced = {s.key for s in new} | set(drop)
        proposed = {k: v for k, v in self.sources.items() if k not in replaced}
        proposed.update((s.key, s) for s in new)
        return self._commit(proposed)

    def _commit(self, proposed: dict[str, Source]) -> Compiled:
        if self.compiled is not None and list(proposed.items()) == list(self.sources.items()):
            return self.compiled  # nothing changed (a cell run again as it was): nothing to compile
        try:
            compiled = self._compile(list(proposed.values()))
        except KeyboardInterrupt as exc:
            if hasattr(exc, "_render_traceback_"):
                raise  # already one line (v1's)
            raise interrupted("compiling BAML", "nothing changed: the functions bound before stay bound") from None
        self.sources, self.compiled = proposed, compiled
        return compiled

    check_seconds = 5.0  # the longest a check as you type may take

    def check_files(self, ordered: list[Source]) -> tuple[dict[str, str], str]:
        """What the editor's check compiles (in a child process): the files, and the script that compiles them."""
        return effective_files(ordered)[0], COMPILE_SCRIPT

    def diagnostics(self, problem: str, source: Source) -> list[tuple[str, str, int]]:
        """The check's messages that are the source's own: (severity, message, line)."""
        return [(severity, message, line) for severity, message, path, line in parse_diagnostics(problem)
                if path.endswith(source.filename)]

    def restore(self, sources: dict[str, Source], compiled: Compiled | None) -> None:
        """Put back what was in force before an update the caller refused (v0: the Python side is all there is;
        an engine whose runtime holds one program per process compiles the one before back)."""
        self.sources, self.compiled = sources, compiled

    def _compile(self, ordered: list[Source]) -> Compiled:
        """The engine's compile of these sources (v0 here; ``V1Project`` compiles with v1)."""
        return compile_sources(ordered, self.cache_dir)


def generator_files(ordered: list[Source], live: dict[str, list[sources.Block]], files: dict[str, str],
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
        for block in sources.split_blocks(s.text):
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


def _check_client_options(ordered: list[Source], live: dict[str, list[sources.Block]]) -> None:
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


