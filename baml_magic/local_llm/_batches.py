"""The offline model's batch APIs: OpenAI-style files and batches, and Anthropic-style message batches.

Objects have the shapes the official SDKs type (``openai.types.Batch`` / ``FileObject``,
``anthropic.types.messages.MessageBatch`` and its results); the SDK referee tests validate them.
A batch's requests are answered by a worker thread, spread over the batch's duration (the first
request's ``batch_seconds=`` model setting, else one second), so status and progress can be
watched and a batch cancelled part way. Other model settings reach every state the real APIs have:

- ``batch_status=failed``: the batch fails validation (``errors.data[]``, ``model_not_found`` at line 1);
- ``batch_status=expired``: the window closes half way; the rest expire (OpenAI: in the error file);
- ``item_error_every=N``: every Nth request fails with HTTP 400 (OpenAI: in the error file;
  Anthropic: an ``errored`` result).

Statuses go ``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed`` (OpenAI) and
``in_progress`` -> ``ended`` (Anthropic, whose counts stay zero until the end). Ids carry the
server's start time, so an id from a server run before is never another batch's.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

Answer = Callable[[dict[str, Any], bool], dict[str, Any]]  # (request body, anthropic?) -> response body
WINDOW_SECONDS = 24 * 3600


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, timezone.utc).isoformat().replace("+00:00", "Z")


def _settings(requests: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """The first request's model settings (``local?batch_seconds=3&...``)."""
    model = str(requests[0][1].get("model", "")) if requests else ""
    return dict(parse_qsl(model.partition("?")[2]))


def openai_error(code: str | None, message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@dataclass
class Batch:
    """One batch: its requests, how far it got, and its answers by custom id."""

    id: str
    anthropic: bool
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, body)
    seconds: float
    input_file_id: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    status: str = "validating"  # OpenAI's words; Anthropic's view maps them
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom_id -> error object
    expired: set[str] = field(default_factory=set)
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)  # status -> when it was reached
    stop: threading.Event = field(default_factory=threading.Event)

    def enter(self, status: str) -> None:
        self.status = status
        self.times[status] = time.time()

    def at(self, status: str) -> int | None:
        when = self.times.get(status)
        return None if when is None else int(when)

    def openai(self) -> dict[str, Any]:
        counted = self.status in ("in_progress", "finalizing", "completed", "cancelling", "cancelled", "expired")
        return {"id": self.id, "object": "batch", "endpoint": "/v1/chat/completions",
                "errors": {"object": "list", "data": self.errors} if self.errors else None,
                "input_file_id": self.input_file_id, "completion_window": "24h", "status": self.status,
                "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
                "created_at": int(self.created), "in_progress_at": self.at("in_progress"),
                "expires_at": int(self.created) + WINDOW_SECONDS, "finalizing_at": self.at("finalizing"),
                "completed_at": self.at("completed"), "failed_at": self.at("failed"), "expired_at": self.at("expired"),
                "cancelling_at": self.at("cancelling"), "cancelled_at": self.at("cancelled"),
                "request_counts": {"total": len(self.requests) if counted else 0, "completed": len(self.answers),
                                   "failed": len(self.failed) + len(self.expired)},
                "metadata": self.settings.get("metadata") and json.loads(self.settings["metadata"])}

    @property
    def ended(self) -> bool:
        return self.status in ("completed", "cancelled", "failed", "expired")

    def anthropic_view(self) -> dict[str, Any]:
        ended = self.ended
        done = set(self.answers) | set(self.failed) | self.expired
        # Anthropic counts results only once the batch has ended: until then every request is processing
        counts = {"processing": 0 if ended else len(self.requests),
                  "succeeded": len(self.answers) if ended else 0, "errored": len(self.failed) if ended else 0,
                  "canceled": len(self.requests) - len(done) if ended else 0,
                  "expired": len(self.expired) if ended else 0}
        status = "ended" if ended else "canceling" if self.status == "cancelling" else "in_progress"
        return {"id": self.id, "type": "message_batch", "processing_status": status, "request_counts": counts,
                "created_at": _iso(self.created), "expires_at": _iso(self.created + WINDOW_SECONDS),
                "ended_at": _iso(self.times.get(self.status)) if ended else None,
                "cancel_initiated_at": _iso(self.times.get("cancelling")), "archived_at": None,
                "results_url": f"{self.settings.get('_base', '')}/v1/messages/batches/{self.id}/results" if ended
                else None}


class Batches:
    """Every file and batch of this server."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self.batches: dict[str, Batch] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._run = f"{int(time.time() * 1000):x}"  # ids of another run of the server never repeat these

    def _id(self, prefix: str) -> str:
        return f"{prefix}_local{self._run}_{next(self._ids)}"

    def add_file(self, content: bytes, filename: str = "input.jsonl", purpose: str = "batch") -> dict[str, Any]:
        file_id = self._id("file")
        file = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed", "expires_at": None,
                "status_details": None}
        with self.lock:
            self.files[file_id] = (file, content)
        return file

    def content(self, file_id: str) -> bytes | None:
        found = self.files.get(file_id)
        return None if found is None else found[1]

    def listing(self, anthropic: bool, kind: str) -> dict[str, Any]:
        """``GET /v1/files``, ``/v1/batches`` or ``/v1/messages/batches``: newest first, as the APIs list."""
        with self.lock:
            if kind == "files":
                data = [f for f, _ in self.files.values()]
            else:
                data = [b.anthropic_view() if anthropic else b.openai() for b in self.batches.values()
                        if b.anthropic == anthropic]
        data.reverse()
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        if anthropic:
            return {"data": data, "has_more": False, "first_id": first, "last_id": last}
        return {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False}

    def create(self, requests: list[tuple[str, dict[str, Any]]], anthropic: bool, input_file_id: str = "",
               metadata: dict[str, Any] | None = None, base: str = "") -> Batch:
        settings = _settings(requests)
        settings["_base"] = base
        if metadata:
            settings["metadata"] = json.dumps(metadata)
        batch = Batch(self._id("msgbatch" if anthropic else "batch"), anthropic, requests,
                      float(settings.get("batch_seconds", 1.0)), input_file_id, settings)
        batch.enter("in_progress" if anthropic else "validating")
        with self.lock:
            self.batches[batch.id] = batch
        threading.Thread(target=self._work, args=(batch,), name=f"local_llm-{batch.id}", daemon=True).start()
        return batch

    def create_openai(self, request: dict[str, Any], base: str) -> Batch | None:
        content = self.content(str(request.get("input_file_id")))
        if content is None:
            return None
        requests = []
        for line in content.decode().splitlines():
            if line.strip():
                item = json.loads(line)
                requests.append((str(item["custom_id"]), item["body"]))
        return self.create(requests, False, str(request.get("input_file_id")), request.get("metadata"), base)

    def _work(self, batch: Batch) -> None:
        started = time.monotonic()
        settings = batch.settings
        if not batch.anthropic:
            batch.stop.wait(min(0.1, batch.seconds / 10))
            if settings.get("batch_status") == "failed":
                model = str(batch.requests[0][1].get("model", "")) if batch.requests else ""
                batch.errors = [{"code": "model_not_found", "message": f"The model '{model}' does not exist or you "
                                 "do not have access to it.", "param": "body.model", "line": 1}]
                batch.enter("failed")
                return
            batch.enter("in_progress")
        every = int(settings.get("item_error_every", 0))
        expire_after = len(batch.requests) // 2 if settings.get("batch_status") == "expired" else None
        total = max(1, len(batch.requests))
        for index, (custom_id, body) in enumerate(batch.requests):
            if expire_after is not None and index >= expire_after:
                batch.expired.update(c for c, _ in batch.requests[index:])
                break
            due = started + batch.seconds * index / total
            while time.monotonic() < due and not batch.stop.is_set():
                batch.stop.wait(min(0.05, due - time.monotonic()))
            if batch.stop.is_set():
                break
            if every and index % every == every - 1:
                batch.failed[custom_id] = {"status": 400, "message": "local_llm: simulated invalid request "
                                           f"(item_error_every={every})"}
                continue
            try:
                batch.answers[custom_id] = self.answer(body, batch.anthropic)
            except Exception as exc:  # noqa: BLE001 - one bad request fails alone, as in a real batch
                batch.failed[custom_id] = {"status": 500, "message": str(exc)}
        if not batch.stop.is_set() and expire_after is None:
            remaining = started + batch.seconds - time.monotonic()
            if remaining > 0:
                batch.stop.wait(remaining)
        self._finish(batch, "cancelled" if batch.stop.is_set() else "expired" if expire_after is not None
                     else "completed")

    def _finish(self, batch: Batch, status: str) -> None:
        if not batch.anthropic:
            if status == "completed":
                batch.enter("finalizing")
            self._openai_files(batch, status)
        batch.enter(status)

    def _openai_files(self, batch: Batch, status: str) -> None:
        """The output file (answers) and the error file (failed, expired and cancelled requests)."""
        out = [json.dumps({"id": f"batch_req_{c}", "custom_id": c, "error": None,
                           "response": {"status_code": 200, "request_id": f"req_{c}", "body": answer}})
               for c, answer in batch.answers.items()]
        errors = [json.dumps({"id": f"batch_req_{c}", "custom_id": c, "error": None,
                              "response": {"status_code": f["status"], "request_id": f"req_{c}",
                                           "body": openai_error("invalid_request" if f["status"] == 400 else
                                                                "server_error", f["message"])}})
                  for c, f in batch.failed.items()]
        done = set(batch.answers) | set(batch.failed)
        code, why = ("batch_expired", "This request could not be executed before the completion window expired.") \
            if status == "expired" else ("batch_cancelled", "This request was cancelled before it could run.")
        errors += [json.dumps({"id": f"batch_req_{c}", "custom_id": c, "response": None,
                               "error": {"code": code, "message": why}})
                   for c, _ in batch.requests if c not in done]
        if out:
            batch.output_file_id = self.add_file(("\n".join(out) + "\n").encode(), f"{batch.id}_output.jsonl",
                                                 "batch_output")["id"]
        if errors:
            batch.error_file_id = self.add_file(("\n".join(errors) + "\n").encode(), f"{batch.id}_error.jsonl",
                                                "batch_output")["id"]

    def cancel(self, batch_id: str) -> Batch | None:
        batch = self.batches.get(batch_id)
        if batch is not None and batch.status in ("validating", "in_progress"):
            batch.enter("cancelling")
            batch.stop.set()
        return batch

    def anthropic_results(self, batch: Batch) -> bytes:
        lines = [json.dumps({"custom_id": c, "result": {"type": "succeeded", "message": answer}})
                 for c, answer in batch.answers.items()]
        lines += [json.dumps({"custom_id": c, "result": {"type": "errored", "error": anthropic_error(
                      "invalid_request_error" if f["status"] == 400 else "api_error", f["message"])}})
                  for c, f in batch.failed.items()]
        lines += [json.dumps({"custom_id": c, "result": {"type": "expired"}}) for c in sorted(batch.expired)]
        done = set(batch.answers) | set(batch.failed) | batch.expired
        lines += [json.dumps({"custom_id": c, "result": {"type": "canceled"}})
                  for c, _ in batch.requests if c not in done]
        return ("\n".join(lines) + "\n").encode()
