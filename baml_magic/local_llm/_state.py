"""The offline model's state: a record of every request (for tests and benchmarks), faults served, draws."""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

from baml_magic.local_llm._batches import Batches
from baml_magic.local_llm._wire import answer_body

EXPECTED_MAX = 100_000  # return types told ahead of their prompts, kept at most


@dataclass
class RequestRecord:
    """What the server saw of one request."""

    id: int
    model: str
    stream: bool
    fault: str | None
    started: float
    first_token: float | None = None
    ended: float | None = None
    tokens_planned: int = 0
    tokens_sent: int = 0
    prompt_tokens: int = 0
    outcome: str = "running"  # running | completed | client_closed | fault
    sent_at: list[float] = field(default_factory=list)  # when each streamed token was written
    media: list[dict[str, Any]] = field(default_factory=list)  # media parts received: kind, type, bytes, sha256
    prompt_sha256: str = ""  # of the prompt's text, to tell two runners sent the same prompt


@dataclass
class ServerState:
    tps: float
    words: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    records: list[RequestRecord] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    faults_served: dict[str, int] = field(default_factory=dict)
    draws: dict[str, int] = field(default_factory=dict)  # requests per model that drew a random number
    batches: Batches = field(init=False)
    expected: OrderedDict[str, Any] = field(default_factory=OrderedDict)  # prompt sha256 -> its return type

    def __post_init__(self) -> None:
        self.batches = Batches(lambda body, anthropic: answer_body(body, anthropic, self.words, self.returns_of))

    def expect(self, items: list[dict[str, Any]]) -> None:
        """Return types for prompts about to come (``_expect``), the newest kept (a bounded table)."""
        with self.lock:
            for item in items:
                self.expected[str(item.get("prompt_sha256"))] = item.get("returns")
                self.expected.move_to_end(str(item.get("prompt_sha256")))
            while len(self.expected) > EXPECTED_MAX:
                self.expected.popitem(last=False)

    def returns_of(self, prompt_sha256: str) -> Any:
        with self.lock:
            return self.expected.get(prompt_sha256)

    def draw(self, model: str) -> random.Random:
        """A random source for this request of ``model``: the same sequence on every run of the server."""
        with self.lock:
            served = self.draws.get(model, 0)
            self.draws[model] = served + 1
        return random.Random(f"{model}#{served}")

    def take_fault(self, model: str, times: int | None) -> bool:
        """Whether this request gets the model's fault: always, or only for its first ``times`` requests."""
        with self.lock:
            served = self.faults_served.get(model, 0)
            if times is not None and served >= times:
                return False
            self.faults_served[model] = served + 1
            return True

    def open_record(self, model: str, stream: bool, fault: str | None) -> RequestRecord:
        with self.lock:
            record = RequestRecord(len(self.records) + 1, model, stream, fault, time.time())
            self.records.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return record

    def close_record(self, record: RequestRecord, outcome: str) -> None:
        with self.lock:
            record.ended = time.time()
            record.outcome = outcome
            self.in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": [asdict(r) for r in self.records],
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }

    def reset(self) -> None:
        with self.lock:
            self.records.clear()
            self.faults_served.clear()
            self.draws.clear()
            self.max_in_flight = self.in_flight
