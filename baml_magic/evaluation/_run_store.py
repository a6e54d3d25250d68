"""Kept runs in a file: one sqlite3 file that several kernels share, read back after a restart.

Records are written as they are kept (plain, scrubbed JSON), versions when first seen. A file that
is damaged is set aside and started anew; one that is busy beyond the wait loses only that record.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from baml_magic._shared_db import SharedDb, damaged
from baml_magic.evaluation._runs import RunRecord, Version

FILE_NAME = "runs.sqlite3"
_SCHEMA = (
    "PRAGMA synchronous=NORMAL",  # WAL keeps the file whole; a power cut may lose the last records only
    "CREATE TABLE IF NOT EXISTS versions (function TEXT NOT NULL, hash TEXT NOT NULL, source TEXT NOT NULL, "
    "client_source TEXT NOT NULL, first_seen REAL NOT NULL, PRIMARY KEY (function, hash))",
    "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, function TEXT NOT NULL, version TEXT NOT NULL, "
    "at REAL NOT NULL, record TEXT NOT NULL)",
)


def runs_file(where: str | Path) -> Path:
    """A runs file from what a user gives: a file, or a folder that will hold ``runs.sqlite3``."""
    path = Path(where).expanduser()
    return path / FILE_NAME if path.is_dir() or not path.suffix else path


class RunStore(SharedDb):
    """The kept runs' file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, "runs file")

    def _write(self, sql: str, values: tuple[object, ...]) -> None:
        with self._lock:
            try:
                self._open().execute(sql, values)
            except sqlite3.DatabaseError as error:  # busy beyond the wait, unwritable or damaged: not kept there
                if damaged(error):
                    self._set_aside()

    def add_version(self, version: Version) -> None:
        """A version, unless the file knows it from earlier (its first sighting stays the earliest)."""
        self._write("INSERT INTO versions VALUES (?, ?, ?, ?, ?) ON CONFLICT (function, hash) DO UPDATE SET "
                    "first_seen = MIN(first_seen, excluded.first_seen)",
                    (version.function, version.hash, version.source, version.client_source, version.first_seen))

    def add(self, record: RunRecord) -> None:
        self._write("INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?)",
                    (record.id, record.function, record.version, record.at,
                     json.dumps(record.as_dict(), default=str)))

    def read(self, limit: int) -> tuple[list[Version], list[RunRecord]]:
        """Every version and the newest ``limit`` records (oldest first); a damaged record is skipped."""
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
        with self._lock:
            rows = self._open().execute("SELECT function, COUNT(*) FROM runs GROUP BY function").fetchall()
        return {str(f): int(n) for f, n in rows}

    def clear(self, functions: list[str] | None = None) -> None:
        with self._lock:
            db = self._open()
            if functions is None:
                db.execute("DELETE FROM runs")
            for function in functions or ():
                db.execute("DELETE FROM runs WHERE function = ?", (function,))


