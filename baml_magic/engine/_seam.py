"""What every engine's project shares: a function's facts, a compiled project, and the sources kept in run
order with the last compile that succeeded (each engine subclasses ``Project`` with its own check and compile).

Each engine keeps one promise: a definition in a later source replaces a definition of the same name in an
earlier one (as in Python, the newest wins), so an edited cell can be run again without "duplicate
definition" errors; a compile that fails changes nothing. The cache folder both write to is found here too.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import types as pytypes
from dataclasses import dataclass, field
from pathlib import Path

from baml_magic._errors import BamlMagicError, interrupted
from baml_magic.engine._protocol import Engine
from baml_magic.sources import Source


def default_cache_dir() -> Path:
    """Where generated code and the response cache live unless told: ``$BAML_MAGIC_CACHE``, else the user's
    cache folder."""
    base = os.environ.get("BAML_MAGIC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "baml_magic"
    )
    return Path(base)


_fallback_dir: Path | None = None


def writable_cache_dir(cache_dir: Path) -> Path:
    """The cache folder, or (when it can't be written) a private temporary one, said in one line."""
    global _fallback_dir
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix="probe-", dir=cache_dir))
        return cache_dir
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise NoSpaceError(no_space(cache_dir)) from None
        if _fallback_dir is None:
            _fallback_dir = Path(tempfile.mkdtemp(prefix="baml_magic_cache_"))
            print(f"baml_magic: cannot write the cache at {cache_dir} ({exc.strerror or exc}); using "
                  f"{_fallback_dir} for this session (set BAML_MAGIC_CACHE to choose another folder)",
                  file=sys.stderr)
        return _fallback_dir


def no_space(cache_dir: Path) -> str:
    """The one line for a full disk under the cache folder."""
    return (f"no space left on the disk for BAML's generated code at {cache_dir}: free some space, or set "
            "BAML_MAGIC_CACHE to a folder on another disk")


class NoSpaceError(BamlMagicError, OSError):
    """The disk under the cache folder is full."""


@dataclass(frozen=True)
class TypeModules:
    """The generated modules a FunctionResult is cast with."""

    types: pytypes.ModuleType
    stream_types: pytypes.ModuleType


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
    types: TypeModules
    functions: dict[str, FunctionSpec]
    clients: dict[str, str]  # client name -> its block text
    files: dict[str, str]
    bindable: set[str] = field(default_factory=set)  # functions the user asked to bind
    origins: dict[str, Path] = field(default_factory=dict)  # file -> where its text came from
    notes: list[str] = field(default_factory=list)  # what a user should know of the load (versions)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # class or enum -> name -> its @alias
    engine_name: str = "v0"  # which engine's project this is (each engine's functions are rebound apart)


class Project:
    """Sources in run order, and the last project that compiled; each engine's project says how it checks and
    compiles them."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
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
        raise NotImplementedError

    def diagnostics(self, problem: str, source: Source) -> list[tuple[str, str, int]]:
        """The check's messages that are the source's own: (severity, message, line)."""
        raise NotImplementedError

    def restore(self, sources: dict[str, Source], compiled: Compiled | None) -> None:
        """Put back what was in force before an update the caller refused (v0: the Python side is all there is;
        an engine whose runtime holds one program per process compiles the one before back)."""
        self.sources, self.compiled = sources, compiled

    def _compile(self, ordered: list[Source]) -> Compiled:
        """The engine's compile of these sources, or ``BamlCompileError`` (nothing is kept: ``update`` keeps)."""
        raise NotImplementedError
