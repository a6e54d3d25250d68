"""Record and replay: LLM answers kept on disk, keyed by everything that decides them.

A key is the SHA-256 of the request BAML would send (method, URL without secret query
parameters, body without the stream flags) with the function's name and return type. Header
values, where keys travel, never enter it. The store is one sqlite3 file in WAL mode with a busy
timeout, so several kernels can share it; a damaged file is set aside and started anew, and a
damaged entry is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from baml_magic._errors import BamlMagicError
from baml_magic._render import Table, money
from baml_magic._types import Usage

MODES = ("off", "on", "record", "replay")
FILE_NAME = "responses.sqlite3"
_SECRET_QUERY = {"key", "api_key", "apikey", "api-key", "token", "access_token", "sig", "signature"}
_STREAM_FIELDS = ("stream", "stream_options")


class CacheMiss(BamlMagicError, LookupError):
    """Replay mode, and no recorded answer for this call."""


@dataclass(frozen=True)
class Answer:
    """A recorded answer: the model's raw text and how it came (tokens, pace, who answered)."""

    raw: str
    input_tokens: int | None
    output_tokens: int | None
    first_token: float | None  # seconds after the start
    duration: float
    provider: str | None
    client: str | None
    model: str | None = None

    @property
    def usage(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens)


def request_key(function: str, returns: str, request: Any) -> str:
    """The cache key of a call: what it sends (never its headers) and what it parses into."""
    try:
        body: Any = request.body.json()
    except Exception:  # noqa: BLE001 - a body that is not JSON is keyed by its text
        body = request.body.text()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in _STREAM_FIELDS}
    parts = urlsplit(str(request.url))
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() not in _SECRET_QUERY])
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    payload = {"v": 1, "function": function, "returns": returns, "method": str(request.method), "url": url,
               "body": body}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether an error says the file is damaged (not a database, malformed), rather than busy or unwritable.

    Only a damaged file is set aside: another kernel holding a lock for a moment must not cost its answers.
    """
    return not isinstance(error, sqlite3.OperationalError)


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether another connection holds the lock (worth waiting for), as opposed to read-only or unopenable."""
    name = getattr(error, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(error)


class ResponseStore:
    """One sqlite3 file of answers; safe for threads of this kernel and for other kernels."""

    busy_seconds = 30.0  # how long a statement waits for another kernel's lock

    def __init__(self, path: Path) -> None:
        self.path = path
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
        if self._db is not None and self._identity() != self._inode:  # deleted or replaced meanwhile: reopen
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as error:
                if not _damaged(error):
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
                db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, function TEXT NOT NULL, "
                           "created REAL NOT NULL, answer TEXT NOT NULL)")
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
        print(f"baml_magic: the response cache {self.path} could not be read; it was set aside as {aside.name} "
              "and a new one started", file=sys.stderr)

    def get(self, key: str) -> Answer | None:
        """The answer recorded under ``key``; None when there is none or it can't be read."""
        with self._lock:
            try:
                row = self._open().execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError as error:  # damaged: set aside; busy beyond the wait: a miss
                if _damaged(error):
                    self._set_aside()
                return None
        if row is None:
            return None
        try:
            return Answer(**json.loads(row[0]))
        except (TypeError, ValueError):  # a damaged entry: a miss, and gone
            self.delete(key)
            return None

    def put(self, key: str, function: str, answer: Answer) -> None:
        with self._lock:
            try:
                self._open().execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                                     (key, function, time.time(), json.dumps(asdict(answer))))
            except sqlite3.DatabaseError as error:  # busy, unwritable or damaged: this answer simply isn't kept
                if _damaged(error):
                    self._set_aside()

    def delete(self, key: str) -> None:
        with self._lock, contextlib.suppress(sqlite3.DatabaseError):
            self._open().execute("DELETE FROM answers WHERE key = ?", (key,))

    def clear(self, functions: list[str] | None = None) -> int:
        """Forget the answers of these functions (all when None); how many were forgotten."""
        with self._lock:
            db = self._open()
            if functions is None:
                return db.execute("DELETE FROM answers").rowcount
            return sum(db.execute("DELETE FROM answers WHERE function = ?", (f,)).rowcount for f in functions)

    def count(self) -> dict[str, int]:
        """Entries per function."""
        with self._lock:
            rows = self._open().execute("SELECT function, COUNT(*) FROM answers GROUP BY function").fetchall()
        return {str(f): int(n) for f, n in rows}

    def size(self) -> int:
        return sum(Path(f"{self.path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{self.path}{s}").exists())

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


@dataclass
class ResponseCache:
    """The session's cache: its mode, its store, and what it saved this session."""

    mode: str = "off"
    pace: bool = False  # replay at the recorded pace instead of at once
    path: Path | None = None
    hits: int = 0
    misses: int = 0
    stored: int = 0
    saved_in: int = 0
    saved_out: int = 0
    _store: ResponseStore | None = field(default=None, repr=False)

    @property
    def reads(self) -> bool:
        return self.mode in ("on", "replay")

    @property
    def writes(self) -> bool:
        return self.mode in ("on", "record")

    def store(self) -> ResponseStore:
        if self.path is None:
            raise RuntimeError("the response cache has no file yet")
        if self._store is None or self._store.path != self.path:
            if self._store is not None:
                self._store.close()
            self._store = ResponseStore(self.path)
        return self._store

    def hit(self, answer: Answer) -> None:
        self.hits += 1
        self.saved_in += answer.input_tokens or 0
        self.saved_out += answer.output_tokens or 0


def cache_file(where: str | Path) -> Path:
    """A cache file from what a user gives: a file, or a folder that will hold ``responses.sqlite3``."""
    path = Path(where).expanduser()
    return path / FILE_NAME if path.is_dir() or not path.suffix else path


def cache_table(cache: ResponseCache, saved_cost: float) -> Table:
    """``%baml cache info``: mode, file, entries per function, size, this session's hits and what they saved."""
    store = cache.store()
    counts = store.count()
    each = ", ".join(f"{f}: {n}" for f, n in sorted(counts.items()))
    rows = [["mode", cache.mode + (" (paced replay)" if cache.pace else "")], ["file", str(cache.path)],
            ["entries", f"{sum(counts.values())}" + (f" ({each})" if each else "")],
            ["size", f"{store.size() / 1024:.1f} KB"],
            ["this session", f"{cache.hits} hits, {cache.misses} misses, {cache.stored} stored"],
            ["tokens saved", f"{cache.saved_in} in, {cache.saved_out} out"]]
    if saved_cost:
        rows.append(["cost saved", money(saved_cost)])
    return Table(["", ""], rows, "baml-magic-cache", "")
