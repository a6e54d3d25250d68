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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from baml_magic._errors import BamlMagicError
from baml_magic._render import Table, money
from baml_magic._shared_db import SharedDb, damaged
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
    reasoning: str | None = None  # the model's thinking before the answer, as the provider sent it
    reasoning_tokens: int | None = None

    @property
    def usage(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens, reasoning_tokens=self.reasoning_tokens)


def _kept(answer: Answer) -> dict[str, Any]:
    """An answer as stored: the thinking's keys only when it thought, so an older reader takes the entry."""
    data = asdict(answer)
    return {k: v for k, v in data.items() if v is not None or k not in ("reasoning", "reasoning_tokens")}


def _answerer(parts: Any) -> str:
    """Who answers, as the key names it: the host and port, but for a server on this machine's loopback, whose
    port is a transport detail (a local server, the offline model among them, takes a free port at each start;
    the model and the request still name what answers)."""
    host = (parts.hostname or "").lower()
    if host.startswith("127.") or host in ("localhost", "::1"):
        return "loopback"
    return str(parts.netloc).rsplit("@", 1)[-1]


def request_key(function: str, returns: str, request: Any) -> str:
    """The cache key of a call: what it sends (never its headers, nor a loopback server's port) and what it
    parses into; the same in another kernel, after a restart and on another machine."""
    try:
        body: Any = request.body.json()
    except Exception:  # noqa: BLE001 - a body that is not JSON is keyed by its text
        body = request.body.text()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in _STREAM_FIELDS}
    parts = urlsplit(str(request.url))
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() not in _SECRET_QUERY])
    url = urlunsplit((parts.scheme, _answerer(parts), parts.path, query, ""))
    payload = {"v": 2, "function": function, "returns": returns, "method": str(request.method), "url": url,
               "body": body}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class ResponseStore(SharedDb):
    """One sqlite3 file of answers; safe for threads of this kernel and for other kernels."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, ("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, function TEXT NOT NULL, "
                                "created REAL NOT NULL, answer TEXT NOT NULL)",), "response cache")

    def has(self, key: str) -> bool:
        """Whether an answer is recorded under ``key`` (read without parsing it); False when the file can't say."""
        with self._lock:
            try:
                return self._open().execute("SELECT 1 FROM answers WHERE key = ?", (key,)).fetchone() is not None
            except sqlite3.DatabaseError:
                return False

    def get(self, key: str) -> Answer | None:
        """The answer recorded under ``key``; None when there is none or it can't be read."""
        with self._lock:
            try:
                row = self._open().execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError as error:  # damaged: set aside; busy beyond the wait: a miss
                if damaged(error):
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
                                     (key, function, time.time(), json.dumps(_kept(answer))))
            except sqlite3.DatabaseError as error:  # busy, unwritable or damaged: this answer simply isn't kept
                if damaged(error):
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

    def holds(self, key: str) -> bool:
        """Whether a call with this key would be answered from the cache (a map does not pace such a call)."""
        return self.reads and self.path is not None and self.store().has(key)

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
