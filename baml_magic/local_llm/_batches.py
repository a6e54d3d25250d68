"""The offline model's batch APIs: OpenAI-style files and batches, and Anthropic-style message batches.

A batch's requests are answered by a worker thread, spread over the batch's duration (the first
request's ``batch_seconds=`` model setting, else one second), so status and progress can be
watched and a batch can be cancelled part way. Batches live as long as the server process, so a
new kernel can pick one up by its id.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Answer = Callable[[dict[str, Any], bool], dict[str, Any]]  # (request body, anthropic?) -> response body


@dataclass
class Batch:
    """One batch: its requests, how far it got, and its answers by custom id."""

    id: str
    anthropic: bool
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, body)
    seconds: float
    created: float = field(default_factory=time.time)
    status: str = "in_progress"  # in_progress | cancelling | cancelled | completed (OpenAI's words)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    output_file_id: str | None = None
    ended: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def openai(self) -> dict[str, Any]:
        return {"id": self.id, "object": "batch", "endpoint": "/v1/chat/completions", "status": self.status,
                "created_at": int(self.created), "output_file_id": self.output_file_id, "error_file_id": None,
                "request_counts": {"total": len(self.requests), "completed": len(self.answers),
                                   "failed": len(self.failed)}}

    def anthropic_view(self) -> dict[str, Any]:
        ended = self.status in ("completed", "cancelled")
        done = len(self.answers) + len(self.failed)
        return {"id": self.id, "type": "message_batch",
                "processing_status": "ended" if ended else "canceling" if self.status == "cancelling" else
                "in_progress",
                "request_counts": {"processing": 0 if ended else len(self.requests) - done,
                                   "succeeded": len(self.answers), "errored": len(self.failed),
                                   "canceled": len(self.requests) - done if ended else 0, "expired": 0},
                "created_at": self.created, "ended_at": self.ended,
                "results_url": f"/v1/messages/batches/{self.id}/results" if ended else None}


class Batches:
    """Every file and batch of this server."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, Batch] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_local_{next(self._ids)}"

    def add_file(self, content: bytes) -> dict[str, Any]:
        file_id = self._id("file")
        with self.lock:
            self.files[file_id] = content
        return {"id": file_id, "object": "file", "bytes": len(content), "purpose": "batch",
                "created_at": int(time.time())}

    def create(self, requests: list[tuple[str, dict[str, Any]]], anthropic: bool) -> Batch:
        seconds = 1.0
        if requests:
            model = str(requests[0][1].get("model", ""))
            for part in model.partition("?")[2].split("&"):
                if part.startswith("batch_seconds="):
                    seconds = float(part.split("=", 1)[1])
        batch = Batch(self._id("msgbatch" if anthropic else "batch"), anthropic, requests, seconds)
        with self.lock:
            self.batches[batch.id] = batch
        threading.Thread(target=self._work, args=(batch,), name=f"local_llm-{batch.id}", daemon=True).start()
        return batch

    def create_openai(self, input_file_id: str) -> Batch | None:
        content = self.files.get(input_file_id)
        if content is None:
            return None
        requests = []
        for line in content.decode().splitlines():
            if line.strip():
                item = json.loads(line)
                requests.append((str(item["custom_id"]), item["body"]))
        return self.create(requests, anthropic=False)

    def _work(self, batch: Batch) -> None:
        started = time.monotonic()
        total = max(1, len(batch.requests))
        for index, (custom_id, body) in enumerate(batch.requests):
            due = started + batch.seconds * index / total
            while time.monotonic() < due and not batch.stop.is_set():
                batch.stop.wait(min(0.05, due - time.monotonic()))
            if batch.stop.is_set():
                break
            try:
                batch.answers[custom_id] = self.answer(body, batch.anthropic)
            except Exception as exc:  # noqa: BLE001 - one bad request fails alone, as in a real batch
                batch.failed[custom_id] = str(exc)
        if not batch.stop.is_set():
            remaining = started + batch.seconds - time.monotonic()
            if remaining > 0:
                batch.stop.wait(remaining)
        self._finish(batch, "cancelled" if batch.stop.is_set() else "completed")

    def _finish(self, batch: Batch, status: str) -> None:
        if not batch.anthropic:
            lines = [json.dumps({"id": f"batch_req_{custom_id}", "custom_id": custom_id,
                                 "response": {"status_code": 200, "request_id": f"req_{custom_id}", "body": answer},
                                 "error": None}) for custom_id, answer in batch.answers.items()]
            lines += [json.dumps({"id": f"batch_req_{custom_id}", "custom_id": custom_id, "response": None,
                                  "error": {"code": "server_error", "message": message}})
                      for custom_id, message in batch.failed.items()]
            batch.output_file_id = self.add_file(("\n".join(lines) + "\n").encode())["id"]
        batch.ended = time.time()
        batch.status = status

    def cancel(self, batch_id: str) -> Batch | None:
        batch = self.batches.get(batch_id)
        if batch is not None and batch.status == "in_progress":
            batch.status = "cancelling"
            batch.stop.set()
        return batch

    def anthropic_results(self, batch: Batch) -> bytes:
        lines = [json.dumps({"custom_id": custom_id, "result": {"type": "succeeded", "message": answer}})
                 for custom_id, answer in batch.answers.items()]
        lines += [json.dumps({"custom_id": custom_id, "result": {"type": "errored", "error": {"message": message}}})
                  for custom_id, message in batch.failed.items()]
        done = set(batch.answers) | set(batch.failed)
        lines += [json.dumps({"custom_id": custom_id, "result": {"type": "canceled"}})
                  for custom_id, _ in batch.requests if custom_id not in done]
        return ("\n".join(lines) + "\n").encode()
