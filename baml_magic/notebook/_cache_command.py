"""``%baml cache``: switch the response cache, show what it holds, forget answers."""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any

from IPython.core.error import UsageError

from baml_magic._render import Table
from baml_magic.calls import MODES, cache_table


def cache_command(magic: Any, options: argparse.Namespace) -> Table | str:
    """``magic``: the ``BamlMagic`` whose traitlets (cache, cache_path, cache_pace) the command sets."""
    session = magic.session
    if options.path is not None:
        magic.cache_path = options.path
    if options.pace is not None:
        magic.cache_pace = options.pace
    if options.functions and options.action != "clear":
        raise UsageError(f"%baml cache {options.action} takes no function names (only clear does)")
    if options.action in MODES:
        before = magic.cache
        magic.cache = options.action
        cache = session.cache
        if cache.mode != "off":
            problem = store_problem(session)
            if problem is not None:  # a file that can't hold answers: say so now, not by failing every call
                magic.cache = before if before != options.action else "off"
                raise UsageError(problem)
        where = f" ({cache.path})" if cache.path is not None else ""
        return f"response cache: {cache.mode}{where}" + (", replayed at the recorded pace" if cache.pace else "")
    cache = session.cache
    if cache.path is None:
        cache.path = magic._cache_file()
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
