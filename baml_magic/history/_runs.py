"""Runs kept by version: every call, map or batch item, test, compare and optimizer candidate, as records.

A function's *version* is a hash of its BAML as written and its own client's block: an edited
prompt is a new version, the same text run again is the same one (in this kernel or after a
restart). Records hold plain data, scrubbed of secrets, so they can be shown, compared and saved.
The history is bounded (the newest ``limit`` records); a file (``_run_store``) keeps them across kernels.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import hashlib
import json
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from baml_magic._errors import short_error
from baml_magic._redact import redact, secret_values
from baml_magic._types import Status, Usage
from baml_magic.calls import Run, summary
from baml_magic.engine import FunctionSpec
from baml_magic.evaluation import Outcome
from baml_magic.many import plain


@dataclass(frozen=True)
class Version:
    """One version of a function: its BAML and its client's, and when this history first saw it."""

    function: str
    hash: str
    source: str
    client_source: str
    first_seen: float


def version_of(spec: FunctionSpec, clients: dict[str, str]) -> tuple[str, str, str]:
    """(hash, the function's BAML, its client's BAML) of a function as compiled now; the texts kept are scrubbed
    of secret values (a key written into a client block), the hash is of the texts as written."""
    source = spec.source.strip() or f"{spec.baml_signature}\n{spec.prompt or ''}"
    client = clients.get(spec.client or "", spec.client or "").strip()
    digest = hashlib.sha256(json.dumps([spec.name, source, client]).encode()).hexdigest()
    return digest[:16], redact(source), redact(client)


@dataclass
class RunRecord:
    """One kept run: what went in, what came out, what it cost, and which version of the function answered."""

    function: str
    version: str
    kind: str  # call | map | batch | test | compare | optimize
    client: str | None
    inputs: dict[str, Any]
    value: Any = None
    status: str = "done"  # done | error | cancelled
    error: str = ""
    verdict: str | None = None  # a test's pass | fail | error (tests only)
    test: str | None = None  # the test's row ("Function::Test"), for a test
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    latency: float | None = None
    at: float = field(default_factory=time.time)
    replayed: bool = False
    incomplete: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    reasoning: str | None = None  # the model's thinking before the answer (scrubbed)
    reasoning_tokens: int | None = None

    @property
    def usage(self) -> Usage:
        return Usage(self.tokens_in, self.tokens_out, reasoning_tokens=self.reasoning_tokens)

    @property
    def key(self) -> str:
        """What makes two runs comparable across versions: the test, else the inputs; and the client."""
        what = self.test if self.test is not None else json.dumps(self.inputs, sort_keys=True, default=str)
        return f"{what}\x00{self.client}"

    @property
    def passed(self) -> bool | None:
        """Whether it passed (a test), answered (a call), or None when it neither passed nor failed."""
        if self.verdict is not None:
            return {"pass": True, "fail": False, "error": False}.get(self.verdict)
        return {"done": True, "error": False}.get(self.status)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def scrubbed(value: Any, secrets: list[str], *, media: bool = False) -> Any:
    """Plain data with every secret value gone from its strings (``media``: media as a short description)."""
    data = plain(summary(value) if media else value)
    if not secrets or not any(secret in json.dumps(data, default=str) for secret in secrets):
        return data if _is_plain(data) else json.loads(json.dumps(data, default=str))
    return _redacted(data, secrets)


def _is_plain(data: Any) -> bool:
    if data is None or isinstance(data, (str, bool, int, float)):
        return True
    if isinstance(data, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in data.items())
    return isinstance(data, list) and all(_is_plain(v) for v in data)


def _redacted(data: Any, secrets: list[str]) -> Any:
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        return {str(k): _redacted(v, secrets) for k, v in data.items()}
    if isinstance(data, list):
        return [_redacted(v, secrets) for v in data]
    if data is None or isinstance(data, (bool, int, float)):
        return data
    return redact(str(data), secrets)


def from_run(run: Run, version: str, kind: str, cost: float | None) -> RunRecord:
    """The record of a call that ended."""
    secrets = secret_values()
    usage = run.usage
    status = str(run.status)
    return RunRecord(
        run.function, version, kind, run.client, scrubbed(run.args, secrets, media=True),
        value=scrubbed(run.value if run.status is Status.DONE else run.partial, secrets), status=status,
        error="" if run.error is None else redact(short_error(run.error).splitlines()[0][:300], secrets),
        tokens_in=usage.input_tokens, tokens_out=usage.output_tokens, cost=cost, latency=run.elapsed,
        at=run.started_at, replayed=run.cached is not None, incomplete=run.incomplete,
        reasoning=redact(run.reasoning, secrets) if run.reasoning else None, reasoning_tokens=usage.reasoning_tokens)


def from_outcome(outcome: Outcome, run: Run | None, inputs: dict[str, Any], version: str, kind: str) -> RunRecord:
    """The record of a grid's call: a test's verdict, or an ad-hoc input's answer."""
    secrets = secret_values()
    verdict = str(outcome.verdict)
    status = {"pass": "done", "fail": "done", "done": "done", "cancelled": "cancelled"}.get(verdict, "error")
    return RunRecord(
        outcome.function, version, kind, run.client if run is not None else outcome.client,
        scrubbed(inputs, secrets, media=True), value=scrubbed(outcome.value, secrets), status=status,
        error=outcome.reason if status == "error" else "", verdict=verdict if kind == "test" else None,
        test=outcome.row if kind == "test" else None, tokens_in=outcome.tokens_in, tokens_out=outcome.tokens_out,
        cost=outcome.cost, latency=outcome.latency, at=run.started_at if run is not None else time.time(),
        replayed=outcome.cached, incomplete=run.incomplete if run is not None else None)


class Store(Protocol):
    """Where records go besides memory (a file, ``_run_store.RunStore``)."""

    def add_version(self, version: Version) -> None: ...

    def add(self, record: RunRecord) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def note(self) -> str | None: ...


_histories: weakref.WeakSet[RunHistory] = weakref.WeakSet()


@atexit.register
def _keep_pending() -> None:
    """At exit: records still to be made are made, and a file's pending writes get a second to finish."""
    for history in list(_histories):
        history.settle()
        if history.store is not None:
            history.store.flush(1.0)


class RunHistory:
    """The session's kept runs (the newest ``limit``) and every version they came from."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.records: collections.deque[RunRecord] = collections.deque()
        self.versions: dict[tuple[str, str], Version] = {}
        self.store: Store | None = None
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._pending: collections.deque[Callable[[], RunRecord]] = collections.deque()
        self._settling = threading.RLock()  # held while a record is built: a reader waits for one half made
        self._wake = threading.Event()
        self._builder: threading.Thread | None = None
        _histories.add(self)

    def later(self, build: Callable[[], RunRecord]) -> None:
        """Keep the record ``build`` makes, made off the call's path (a thread builds it while the next call
        waits on the network; reading the history first builds what is pending)."""
        self._pending.append(build)
        self._wake.set()
        if self._builder is None or not self._builder.is_alive():
            self._builder = threading.Thread(target=self._build_pending, name="baml-magic-history", daemon=True)
            self._builder.start()

    def _build_pending(self) -> None:
        while self._wake.wait(2.0):
            self._wake.clear()
            self.settle()
        self._builder = None
        if self._pending:  # one came as this thread gave up
            self.settle()

    def settle(self) -> None:
        """Build and keep every record still pending (and wait for one another thread is building)."""
        with self._settling:
            while True:
                try:
                    build = self._pending.popleft()
                except IndexError:
                    return
                with contextlib.suppress(Exception):  # a record that can't be made never breaks a call
                    self.keep(build())

    def version(self, spec: FunctionSpec, clients: dict[str, str]) -> str:
        """The hash of a function's version, registered (and written to the file) when new."""
        digest, source, client = version_of(spec, clients)
        if (spec.name, digest) not in self.versions:
            self.add_version(Version(spec.name, digest, source, client, time.time()))
        return digest

    def add_version(self, version: Version) -> None:
        with self._lock:
            known = self.versions.get((version.function, version.hash))
            if known is not None and known.first_seen <= version.first_seen:
                return
            self.versions[(version.function, version.hash)] = version
        if self.store is not None:
            self.store.add_version(version)

    def keep(self, record: RunRecord, *, write: bool = True) -> None:
        """Keep a record (once: a record read again from a file is not kept twice)."""
        with self._lock:
            if record.id in self._ids or self.limit <= 0:
                return
            self._ids.add(record.id)
            self.records.append(record)
            while len(self.records) > self.limit:
                self._ids.discard(self.records.popleft().id)
        if write and self.store is not None:
            self.store.add(record)

    def merge(self, versions: Iterable[Version], records: Iterable[RunRecord]) -> int:
        """Versions and records read from a file, in time order with those kept here; how many were new."""
        self.settle()
        for version in versions:
            self.add_version(version)
        before = len(self._ids)
        for record in records:
            self.keep(record, write=False)
        with self._lock:
            self.records = collections.deque(sorted(self.records, key=lambda r: r.at))
            added = len(self._ids) - before
        return added

    def clear(self, functions: list[str] | None = None) -> int:
        self.settle()
        with self._lock:
            gone = {r.id for r in self.records if functions is None or r.function in functions}
            self.records = collections.deque(r for r in self.records if r.id not in gone)
            self._ids -= gone
        return len(gone)

    def of(self, function: str | None = None) -> list[RunRecord]:
        """Records of a function (every function when None), newest first."""
        self.settle()
        with self._lock:
            return [r for r in reversed(self.records) if function is None or r.function == function]

    def versions_of(self, function: str) -> list[Version]:
        """A function's versions in the order first seen (version 1 first)."""
        with self._lock:
            known = list(self.versions.items())
        return sorted((v for (f, _), v in known if f == function), key=lambda v: v.first_seen)

    def number(self, function: str, digest: str) -> int | None:
        """A version's number (1 for the first this history saw)."""
        for index, version in enumerate(self.versions_of(function), 1):
            if version.hash == digest:
                return index
        return None

    def label(self, function: str, digest: str) -> str:
        number = self.number(function, digest)
        return f"v{number} ({digest[:7]})" if number is not None else digest[:7]

    def resolve(self, function: str, ref: str | None, current: str) -> Version | None:
        """A version by number (``2``, ``v2``) or hash prefix (4 characters or more); None: the version other
        than ``current`` that ran most recently (None when none did)."""
        versions = self.versions_of(function)
        if ref is None:
            last_run: dict[str, float] = {}
            for record in self.of(function):
                if record.version != current and record.kind != "optimize":  # a candidate scored is not a run
                    last_run.setdefault(record.version, record.at)
            ran = [v for v in versions if v.hash in last_run]
            return max(ran, key=lambda v: last_run[v.hash]) if ran else None
        text = ref.strip().lower().removeprefix("v")
        if text.isdigit() and 0 < int(text) <= len(versions) and len(text) < 4:
            return versions[int(text) - 1]
        found = [v for v in versions if v.hash.startswith(text)] if len(text) >= 4 else []
        return found[0] if len(found) == 1 else None

    def runs_of(self, function: str, digest: str, kinds: tuple[str, ...] | None = None) -> list[RunRecord]:
        """A version's records, newest first (only those of ``kinds`` when given)."""
        return [r for r in self.of(function) if r.version == digest and (kinds is None or r.kind in kinds)]
