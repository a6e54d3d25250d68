"""One sqlite3 file that threads of this kernel and other kernels share (the response cache, the kept runs).

WAL mode with a busy timeout, so several kernels can read and write it; a file deleted or replaced
meanwhile is reopened; a damaged file (not a database, malformed) is set aside and started anew,
while a busy one is only waited for: another kernel holding a lock for a moment must cost nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
import time
from pathlib import Path


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
                db.execute("PRAGMA journal_mode=WAL")
                for statement in self.schema:
                    db.execute(statement)
                return db
            except sqlite3.OperationalError as error:
                # Another kernel creating the file or switching it to WAL at this moment: sqlite says
                # "locked" at once rather than waiting. Try again, as long as a statement would wait.
                if not _busy(error) or time.monotonic() >= deadline:
                    db.close()
                    raise
                time.sleep(0.02)
            except sqlite3.DatabaseError:
                db.close()
                raise

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
