"""``%baml runs`` and ``%baml diff``: the runs kept by version, their file, and two versions compared."""

from __future__ import annotations

import argparse
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from baml_magic._errors import interrupted, refused_setting
from baml_magic._render import Table
from baml_magic._shared_db import ForeignFileError
from baml_magic.evaluation import MadeTests
from baml_magic.history import RunHistory, Runs, RunStore, VersionDiff, runs_file, version_diff
from baml_magic.notebook import _tests_made as made

if TYPE_CHECKING:
    from baml_magic.notebook._host import Host

VERSION_REF = re.compile(r"^(v?\d{1,3}|[0-9a-f]{4,16})$", re.I)  # a version number or a hash prefix


def open_file(history: RunHistory, where: str | Path) -> tuple[Path, int]:
    """Keep runs in this file from now on, with what it held merged in and what was kept here written to it."""
    path = runs_file(where)
    store = RunStore(path)
    try:
        versions, records = store.read(history.limit)
    except ForeignFileError as exc:
        raise UsageError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"can't keep runs in {path} ({exc}); give a writable file or folder") from None
    added = history.merge(versions, records)
    _let_go(history)
    history.store = store
    for version in list(history.versions.values()):
        store.add_version(version)
    for record in history.of():
        store.add(record)
    return path, added


def _let_go(history: RunHistory) -> None:
    """The file runs were kept in until now: what is pending written (a few seconds at most), then closed."""
    if isinstance(history.store, RunStore):
        history.settle()
        history.store.flush(5.0)
        history.store.close()
    history.store = None


def use_runs_file(history: RunHistory, where: str) -> bool:
    """``BamlMagic.runs_file`` set (``""``: keep runs in memory only); False, said in one line, when it can't be."""
    if not where:
        _let_go(history)
        return True
    if isinstance(history.store, RunStore) and history.store.path == runs_file(where):
        return True  # %baml runs save opened it already
    try:
        open_file(history, where)
    except UsageError as exc:
        refused_setting(exc)
        return False
    return True


def load_file(history: RunHistory, where: str) -> str:
    path = runs_file(where)
    if not path.exists():
        raise UsageError(f"no runs file {path}")
    try:
        versions, records = RunStore(path).read(history.limit)
    except ForeignFileError as exc:
        raise UsageError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"can't read runs from {path} ({exc})") from None
    added = history.merge(versions, records)
    return f"read {added} run{'s' if added != 1 else ''} from {path}"


def runs_command(host: Host, options: argparse.Namespace) -> Runs | Table | MadeTests | str:
    """``host``: the ``BamlMagic`` whose ``runs_file`` traitlet ``save`` sets."""
    history: RunHistory = host.session.history
    targets = options.targets
    if options.action in ("save", "load") and len(targets) > 1:
        raise UsageError(f"%baml runs {options.action} takes one file or folder")
    if options.action == "save":
        where = targets[0] if targets else (host.runs_file or "runs.sqlite3")
        path, added = open_file(history, where)
        host.runs_file = where
        read = f"; read {added} earlier run{'s' if added != 1 else ''} from it" if added else ""
        return f"runs kept in {path} from now on ({len(history.of())} so far){read}"
    if options.action == "load":
        if not targets:
            raise UsageError("%baml runs load FILE: the runs file (or its folder) to read")
        return load_file(history, targets[0])
    if options.action == "clear":
        if isinstance(history.store, RunStore):  # the file first: an interrupt there leaves both as they were
            try:
                history.store.clear(targets or None)
            except KeyboardInterrupt:
                raise interrupted(f"clearing runs in {history.store.path}", "nothing was cleared, in the file or "
                                  "in this kernel (another kernel may hold the file)") from None
            except (sqlite3.Error, OSError) as exc:
                raise UsageError(f"can't clear runs in {history.store.path} ({exc}); nothing was cleared") from None
        gone = history.clear(targets or None)
        return f"forgot {gone} run{'s' if gone != 1 else ''}"
    if options.action == "restore":
        if len(targets) != 2:
            raise UsageError("%baml runs restore FUNCTION VERSION: a bound function and its version (2, v2 or a "
                             "hash prefix)")
        fn = host.bound.get(targets[0])
        if fn is None:
            raise UsageError(f"no bound function {targets[0]}; bound: {', '.join(sorted(host.bound)) or 'none'}")
        fn.restore(targets[1], write=options.write)
        return ""
    if options.action == "test":
        return _test_of_run(host, targets, options.expect)
    if options.action == "info":
        store = history.store if isinstance(history.store, RunStore) else None
        functions = sorted({r.function for r in history.of()})
        rows = [["runs kept", f"{len(history.of())} (at most {history.limit}: BamlMagic.runs_kept)"],
                ["functions", ", ".join(functions) or "none"],
                ["versions", str(len(history.versions))],
                ["file", str(store.path) if store else "none (%baml runs save FILE keeps them in a file)"]]
        return Table(["", ""], rows, "baml-magic-runs-info", "")
    if len(targets) > 1:
        raise UsageError("%baml runs [FUNCTION]: one function, or none for every function")
    return Runs(history, targets[0] if targets else None)


_FIELDS = re.compile(r"^\w+(\.\w+)*(,\s*\w+(\.\w+)*)*$")


def _test_of_run(host: Host, targets: list[str], expect: str | None) -> MadeTests:
    """``%baml runs test FUNCTION RUN [NAME]``: a kept run's inputs and answer as a BAML test."""
    if len(targets) not in (2, 3):
        raise UsageError("%baml runs test FUNCTION RUN [NAME]: a bound function, its run (1: the newest, as %baml "
                         "runs FUNCTION lists them, or the run's id) and the test's name")
    fn = host.bound.get(targets[0])
    if fn is None:
        raise UsageError(f"no bound function {targets[0]}; bound: {', '.join(sorted(host.bound)) or 'none'}")
    host.session.history.settle()  # the runs of this cell's calls too
    records = host.session.history.of(fn.spec.name)
    ref = targets[1]
    if ref.isdigit() and 1 <= int(ref) <= len(records):
        record = records[int(ref) - 1]
    else:
        found = [r for r in records if len(ref) >= 4 and r.id.startswith(ref.lower())]
        if len(found) != 1:
            raise UsageError(f"no run {ref} of {fn.spec.name}: 1 to {len(records)} (1 is the newest, as %baml runs "
                             f"{fn.spec.name} lists them) or a run's id" if records else
                             f"{fn.spec.name} has no kept runs yet: call it first")
        record = found[0]
    wanted: Any = [f.strip() for f in expect.split(",")] if expect and _FIELDS.match(expect) else expect
    maker = made.Maker(fn.spec, fn.compiled, host.session.made_tests)
    return made.from_record(maker, record, targets[2] if len(targets) == 3 else None, wanted)


def diff_command(host: Host, options: argparse.Namespace) -> VersionDiff:
    fn = host.bound.get(options.function)
    if fn is None:
        raise UsageError(f"no bound function {options.function}; bound: {', '.join(sorted(host.bound)) or 'none'}")
    if len(options.versions) > 2:
        raise UsageError("%baml diff FUNCTION [VERSION] [VERSION]: at most two versions")
    history: RunHistory = host.session.history
    current = fn.version
    refs = [*options.versions, None, None][:2]
    new = history.resolve(fn.spec.name, refs[1], current) if refs[1] is not None else \
        history.versions[(fn.spec.name, current)]
    old = history.resolve(fn.spec.name, refs[0], new.hash if new is not None else current)
    if old is None or new is None:
        kept = ", ".join(history.label(fn.spec.name, v.hash) for v in history.versions_of(fn.spec.name))
        wanted = refs[0] if old is None else refs[1]
        what = f"no version {wanted} of {fn.spec.name}" if wanted else f"{fn.spec.name} has no earlier version yet"
        raise UsageError(f"{what} (versions kept: {kept or 'none'}); edit its prompt and run it to make one")
    return version_diff(history, fn.spec.name, old, new)
