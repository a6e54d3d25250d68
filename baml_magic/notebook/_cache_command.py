"""``%baml cache``: switch the response cache, show what it holds, forget answers."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from baml_magic._render import Table
from baml_magic.calls import MODES, cache_file, cache_table
from baml_magic.engine import default_cache_dir, writable_cache_dir

if TYPE_CHECKING:
    from baml_magic.notebook._host import Host


def cache_file_of(host: Host) -> Path:
    """The response cache's file: ``cache_path``, else under the cache folder (a private one if it can't be
    written)."""
    if host.cache_path:
        return cache_file(host.cache_path)
    return cache_file(writable_cache_dir(Path(host.cache_dir) if host.cache_dir else default_cache_dir()))


def cache_command(host: Host, options: argparse.Namespace) -> Table | str:
    """``host``: the ``BamlMagic`` whose traitlets (cache, cache_path, cache_pace) the command sets."""
    session = host.session
    if options.path is not None:
        host.cache_path = options.path
    if options.pace is not None:
        host.cache_pace = options.pace
    if options.functions and options.action != "clear":
        raise UsageError(f"%baml cache {options.action} takes no function names (only clear does)")
    if options.action in MODES:
        before = host.cache
        host.cache = options.action
        cache = session.cache
        if cache.mode != "off":
            problem = store_problem(session)
            if problem is not None:  # a file that can't hold answers: say so now, not by failing every call
                host.cache = before if before != options.action else "off"
                raise UsageError(problem)
        where = f" ({cache.path})" if cache.path is not None else ""
        return f"response cache: {cache.mode}{where}" + (", replayed at the recorded pace" if cache.pace else "")
    cache = session.cache
    if cache.path is None:
        cache.path = cache_file_of(host)
    problem = store_problem(session)
    if problem is not None:
        raise UsageError(problem)
    saved = sum(t.saved_cost for t in session.ledger.by_function.values())
    try:
        if options.action == "clear":
            if not options.functions and not options.all:
                raise UsageError("%baml cache clear FUNCTION [...] forgets those answers; --all forgets every one")
            gone = cache.store().clear(None if options.all else options.functions)
            return f"forgot {gone} answer{'s' if gone != 1 else ''}"
        return cache_table(cache, saved)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"the response cache {cache.path} can't be read: {exc}") from None


def store_problem(session: Any) -> str | None:
    """Why the session's cache file can't hold answers, if it can't (one line)."""
    cache = session.cache
    try:
        cache.store().count()
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        return f"can't use {cache.path} as the response cache ({exc}); give a writable file or folder with " \
               "--path"
    return None
