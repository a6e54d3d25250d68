"""One sqlite3 file that threads of this kernel and other kernels share (the response cache, the kept runs).

WAL mode with a busy timeout, so several kernels can read and write it; a file deleted or replaced
meanwhile is reopened; a damaged file (not a database, malformed) is set aside and started anew,
while a busy one is only waited for: another kernel holding a lock for a moment must cost nothing.
A database that is not one of ours (another application's tables, or ours of a newer schema) is refused,
in one line, and never touched: a ``baml_magic`` table in each file says what it is and its schema.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from baml_magic._errors import ShortError

SCHEMA = 1  # the version of the tables a file of ours holds (a newer baml_magic may write a higher one)
_MARKER = "CREATE TABLE IF NOT EXISTS baml_magic (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


class ForeignFileError(ShortError):
    """A database file that is not one of ours, or ours of a newer schema: refused, left as it is."""


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")]


def damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether an error says the file is damaged (not a database, malformed), rather than busy or unwritable."""
    return not isinstance(error, sqlite3.OperationalError)


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether another connection holds the lock (worth waiting for), as opposed to read-only or unopenable."""
    name = getattr(error, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(error)


class SharedDb:
    """A sqlite3 file with the tables ``schema`` creates; ``what`` names it in the note when it is set aside."""

    busy_seconds = 30.0  # how long a statement waits for another kernel's lock

    def __init__(self, path: Path, schema: tuple[str, ...], what: str) -> None:
        self.path = path
        self.schema = schema
        self.what = what
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None

    def _identity(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def _open(self) -> sqlite3.Connection:
        """The connection (the caller holds ``_lock``)."""
        if self._db is not None and self._identity() != self._inode:  # deleted or replaced meanwhile: reopen
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as error:
                if not damaged(error):
                    raise
                self._set_aside()  # not a database (truncated, overwritten): start anew
                self._db = self._connect()
            self._inode = self._identity()
        return self._db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.busy_seconds, check_same_thread=False, isolation_level=None)
        deadline = time.monotonic() + self.busy_seconds
        while True:
            try:
                marked = self._check(db)  # before anything is written: a file not ours stays exactly as it was
                db.execute("PRAGMA journal_mode=WAL")
                for statement in self.schema:
                    db.execute(statement)
                if not marked:  # a new file (or one from before the marker): say what it is, once
                    db.execute(_MARKER)
                    db.execute("INSERT OR IGNORE INTO baml_magic VALUES ('kind', ?), ('schema', ?)",
                               (self.what, str(SCHEMA)))
                return db
            except sqlite3.OperationalError as error:
                # Another kernel creating the file or switching it to WAL at this moment: sqlite says
                # "locked" at once rather than waiting. Try again, as long as a statement would wait.
                if not _busy(error) or time.monotonic() >= deadline:
                    db.close()
                    raise
                time.sleep(0.02)
            except (sqlite3.DatabaseError, ForeignFileError):
                db.close()
                raise

    def _expected(self) -> dict[str, list[str]]:
        """The tables and columns a file of ours holds (the schema made in memory, to read them back)."""
        memory = sqlite3.connect(":memory:")
        try:
            for statement in self.schema:
                if statement.upper().startswith("CREATE"):
                    memory.execute(statement)
            names = [str(r[0]) for r in memory.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {name: _columns(memory, name) for name in names}
        finally:
            memory.close()

    def _check(self, db: sqlite3.Connection) -> bool:
        """Refuse a file that is not ours (or is ours, of a newer schema), reading it only; whether it is marked."""
        tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if not str(r[0]).startswith("sqlite_")}
        where = f"{self.path} is not a {self.what} of baml_magic"
        advice = "it is left as it is; give another file"
        marked = "baml_magic" in tables
        if marked:
            said = dict(db.execute("SELECT key, value FROM baml_magic").fetchall())
            if said.get("kind") != self.what:
                raise ForeignFileError(f"{where} (it is a {said.get('kind') or 'file'} of baml_magic); {advice}")
            written = int(said.get("schema") or 0) if str(said.get("schema") or "0").isdigit() else 0
            if written > SCHEMA:
                raise ForeignFileError(f"{self.path} was written by a newer baml_magic (schema {written}, this one "
                                       f"reads {SCHEMA}); {advice}, or update baml_magic")
            tables.discard("baml_magic")
        expected = self._expected()
        if tables and (tables != set(expected) or any(_columns(db, t) != expected[t] for t in tables)):
            held = ", ".join(f"{t}({', '.join(_columns(db, t))})" for t in sorted(tables))
            raise ForeignFileError(f"{where}: it holds {held}; {advice}")
        return marked

    def foreground(self, work: Any) -> Any:
        """``work(connection)`` for a command the user waits on: while another kernel holds the file, it waits in
        short steps, so an interrupt lands at once (sqlite's own wait does not let it in)."""
        deadline = time.monotonic() + self.busy_seconds
        while True:
            with self._lock:
                db = self._open()
                db.execute("PRAGMA busy_timeout = 100")
                try:
                    return work(db)
                except sqlite3.OperationalError as error:
                    if not _busy(error) or time.monotonic() >= deadline:
                        raise
                finally:
                    db.execute(f"PRAGMA busy_timeout = {int(self.busy_seconds * 1000)}")
            time.sleep(0.05)

    def _set_aside(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{self.path}{suffix}").rename(f"{aside}{suffix}")
        print(f"baml_magic: the {self.what} {self.path} could not be read; it was set aside as {aside.name} "
              "and a new one started", file=sys.stderr)

    def size(self) -> int:
        return sum(Path(f"{self.path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{self.path}{s}").exists())

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
