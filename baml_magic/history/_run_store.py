"""Kept runs in a file: one sqlite3 file that several kernels share, read back after a restart.

Records are written as they are kept (plain, scrubbed JSON), versions when first seen, by a writer
thread in batches, so a call never waits on the disk; reading the file first writes what is pending,
and at exit the writer gets a second to finish (``_runs`` asks it). A file that is damaged is set aside
and started anew. A write that fails (disk full, read-only, locked beyond the wait) loses nothing: the runs stay
in the kernel, the batch is tried again a few seconds later, and ``note()`` says so once (and once more when the
file takes them again).
"""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
import time
from pathlib import Path

from baml_magic._shared_db import ForeignFileError, SharedDb, damaged
from baml_magic.history._runs import RunRecord, Version

FILE_NAME = "runs.sqlite3"
BATCH_SECONDS = 0.25  # how long the writer lets records gather before it writes them in one transaction
RETRY_SECONDS = 5.0  # how long a batch the file refused waits before it is tried again
_SCHEMA = (
    "PRAGMA synchronous=NORMAL",  # WAL keeps the file whole; a power cut may lose the last records only
    "CREATE TABLE IF NOT EXISTS versions (function TEXT NOT NULL, hash TEXT NOT NULL, source TEXT NOT NULL, "
    "client_source TEXT NOT NULL, first_seen REAL NOT NULL, PRIMARY KEY (function, hash))",
    "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, function TEXT NOT NULL, version TEXT NOT NULL, "
    "at REAL NOT NULL, record TEXT NOT NULL)",
)
_ADD_VERSION = ("INSERT INTO versions VALUES (?, ?, ?, ?, ?) ON CONFLICT (function, hash) DO UPDATE SET "
                "first_seen = MIN(first_seen, excluded.first_seen)")
_ADD_RUN = "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?)"


def runs_file(where: str | Path) -> Path:
    """A runs file from what a user gives: a file, or a folder that will hold ``runs.sqlite3``."""
    path = Path(where).expanduser()
    return path / FILE_NAME if path.is_dir() or not path.suffix else path


class RunStore(SharedDb):
    """The kept runs' file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, "runs file")
        self._pending: queue.Queue[tuple[str, tuple[object, ...]]] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self.problem: str | None = None  # why the last batch could not be written (None: it was)
        self._told: str | None = None  # the problem note() last said

    def _put(self, sql: str, values: tuple[object, ...]) -> None:
        self._pending.put((sql, values))
        with self._writer_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_pending, name="baml-magic-runs", daemon=True)
                self._writer.start()

    def _write_pending(self) -> None:
        while True:
            try:
                batch = [self._pending.get(timeout=2.0)]
            except queue.Empty:
                return  # idle: the next record starts a writer again
            time.sleep(BATCH_SECONDS)  # let a burst of calls gather: one transaction for all of them
            while len(batch) < 500:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            failed = None
            with self._lock:
                try:
                    db = self._open()
                    db.execute("BEGIN")
                    for sql in dict.fromkeys(sql for sql, _ in batch):  # versions first, as they came
                        db.executemany(sql, [values for each, values in batch if each == sql])
                    db.execute("COMMIT")
                except (sqlite3.DatabaseError, ForeignFileError, OSError) as error:  # full, unwritable, busy...
                    failed = error
                    if self._db is not None and self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self._db.rollback()
                    if isinstance(error, sqlite3.DatabaseError) and damaged(error):
                        self._set_aside()
            if failed is not None:  # nothing is dropped: tried again later, said once
                self.problem = f"can't write runs to {self.path} ({failed}); they are kept in this kernel and " \
                               "written when the file takes them"
                time.sleep(RETRY_SECONDS)
                for item in batch:
                    self._pending.put(item)
            else:
                self.problem = None
            for _ in batch:
                self._pending.task_done()

    def note(self) -> str | None:
        """What changed in the file's writing since the last note: a problem, or its end (else None)."""
        problem, told = self.problem, self._told
        if problem == told or (problem is not None and told is not None):
            return None
        self._told = problem
        return problem if problem is not None else f"runs are written to {self.path} again"

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until what was kept is written (at most ``timeout`` seconds); whether it all was."""
        done = threading.Event()

        def wait() -> None:
            self._pending.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def add_version(self, version: Version) -> None:
        """A version, unless the file knows it from earlier (its first sighting stays the earliest)."""
        self._put(_ADD_VERSION, (version.function, version.hash, version.source, version.client_source,
                                 version.first_seen))

    def add(self, record: RunRecord) -> None:
        self._put(_ADD_RUN, (record.id, record.function, record.version, record.at,
                             json.dumps(record.as_dict(), default=str)))

    def read(self, limit: int) -> tuple[list[Version], list[RunRecord]]:
        """Every version and the newest ``limit`` records (oldest first); a damaged record is skipped."""
        self.flush(10.0)
        with self._lock:
            db = self._open()
            versions = [Version(*row) for row in db.execute("SELECT * FROM versions")]
            rows = db.execute("SELECT record FROM runs ORDER BY at DESC LIMIT ?", (limit,)).fetchall()
        records = []
        for (text,) in reversed(rows):
            try:
                records.append(RunRecord.from_dict(json.loads(text)))
            except (TypeError, ValueError):
                continue
        return versions, records

    def count(self) -> dict[str, int]:
        """Records per function."""
        self.flush(10.0)
        with self._lock:
            rows = self._open().execute("SELECT function, COUNT(*) FROM runs GROUP BY function").fetchall()
        return {str(f): int(n) for f, n in rows}

    def clear(self, functions: list[str] | None = None) -> None:
        self.flush(10.0)

        def delete(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                if functions is None:
                    db.execute("DELETE FROM runs")
                for function in functions or ():
                    db.execute("DELETE FROM runs WHERE function = ?", (function,))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.rollback()
                raise

        self.foreground(delete)

