"""Fn.map against local_llm: order, concurrency, per-item errors, interrupts, Retry-After."""

from __future__ import annotations

import _thread
import threading
import time

import pytest
from baml_py.errors import BamlClientHttpError

from baml_magic.testing import wait_until
from tests.conftest import CLIENT, baml_cell

ECHO = """
function Echo(text: string) -> string {
  client Paced
  prompt #"Repeat exactly: {{ text }}"#
}
function Pair(a: string, b: int) -> string {
  client Paced
  prompt #"{{ a }} {{ b }}"#
}
"""


def _setup(shell, model: str = "local?seconds=0.3&words=4") -> dict:
    paced = CLIENT.replace("Fast", "Paced").replace('model "local"', f'model "{model}"')
    baml_cell(shell, CLIENT + paced + ECHO)
    return shell.user_ns


@pytest.mark.slow
def test_results_keep_input_order_and_concurrency_is_never_exceeded(shell, llm) -> None:
    ns = _setup(shell)
    llm.reset()
    texts = [f"item {i}" for i in range(12)]
    started = time.monotonic()
    results = ns["Echo"].map(texts, concurrency=4)
    elapsed = time.monotonic() - started
    assert len(results) == 12 and all(isinstance(r, str) and r for r in results)
    prompts = [r["prompt_tokens"] for r in llm.requests()]
    assert len(prompts) == 12
    assert llm.stats()["max_in_flight"] == 4
    assert elapsed < 12 * 0.3, "ran concurrently"
    last = ns["Echo"].last_map
    assert last.status == "done" and last.count("done") == 12
    assert [r.args["text"] for r in last.runs] == texts, "slot i holds input i"
    assert last.tokens_out == sum(r["tokens_sent"] for r in llm.requests()) > 0


@pytest.mark.slow
def test_inputs_as_dicts_tuples_and_lazy_iterables(shell, llm) -> None:
    ns = _setup(shell)
    consumed = []

    def lazy():
        for i in range(5):
            consumed.append(i)
            yield {"a": f"x{i}", "b": i} if i % 2 else (f"y{i}", i)

    results = ns["Pair"].map(lazy(), concurrency=2)
    assert len(results) == 5 and consumed == list(range(5))
    with pytest.raises(TypeError, match="takes 2 parameters"):
        ns["Pair"].map(["just a string"])


def test_per_item_errors_return_in_their_slot_or_raise(shell, llm) -> None:
    ns = _setup(shell)
    results = ns["Pair"].map([("ok", 1), ("bad", "not an int"), {"a": "ok", "b": 3}], on_error="return")
    assert isinstance(results[0], str) and isinstance(results[2], str)
    assert isinstance(results[1], TypeError) and "'b'" in str(results[1])
    assert ns["Pair"].last_map.errors.keys() == {1}
    with pytest.raises(TypeError):
        ns["Pair"].map([("ok", 1), ("bad", "x")], concurrency=1)
    assert isinstance(ns["Pair"].last_map.results[0], str), "what finished is kept"


@pytest.mark.slow  # measured over a second
def test_provider_failures_per_item(shell, llm) -> None:
    broken = CLIENT.replace("Fast", "Paced").replace('model "local"', 'model "local?fault=http_500"')
    baml_cell(shell, CLIENT + broken + ECHO)
    results = shell.user_ns["Echo"].map(["a", "b"], on_error="return")
    assert all(isinstance(r, BamlClientHttpError) for r in results)
    with pytest.raises(BamlClientHttpError):
        shell.user_ns["Echo"].map(["a", "b"])


@pytest.mark.slow
def test_interrupt_closes_every_connection_and_keeps_finished_results(shell, llm) -> None:
    ns = _setup(shell, "local?tps=20&words=30")
    ns["Echo"].map(["warm"])
    llm.reset()
    timer = threading.Timer(0.8, _thread.interrupt_main)
    timer.start()
    interrupted = time.time() + 0.8
    with pytest.raises(KeyboardInterrupt):
        ns["Echo"].map([f"long {i}" for i in range(20)], concurrency=5)
    wait_until(lambda: llm.stats()["in_flight"] == 0, what="every request to end")
    records = llm.requests()
    assert len(records) == 5 and llm.stats()["in_flight"] == 0
    assert all(r["outcome"] == "client_closed" for r in records)
    assert max(r["ended"] for r in records) - interrupted < 1.0
    last = ns["Echo"].last_map
    assert last.status == "cancelled" and last.count("cancelled") == 5


@pytest.mark.slow
def test_retry_after_is_honoured(shell, llm) -> None:
    ns = _setup(shell, "local?fault=http_429&times=1&retry_after=1")
    llm.reset()
    started = time.monotonic()
    results = ns["Echo"].map(["a"])
    assert isinstance(results[0], str)
    records = llm.requests()
    assert [r["outcome"] for r in records] == ["fault", "completed"]
    assert records[1]["started"] - records[0]["started"] >= 0.95, "waited what Retry-After asked"
    assert time.monotonic() - started >= 1.0


def test_bamls_retry_policy_runs_inside_each_item(shell, llm) -> None:
    retried = CLIENT.replace("Fast", "Paced").replace('model "local"', 'model "local?fault=http_500&times=2"')
    retried = retried.replace('  provider "openai-generic"', '  provider "openai-generic"\n  retry_policy Twice')
    policy = "retry_policy Twice {\n  max_retries 2\n  strategy {\n    type constant_delay\n    delay_ms 50\n  }\n}\n"
    baml_cell(shell, CLIENT + policy + retried + ECHO)
    llm.reset()
    results = shell.user_ns["Echo"].map(["a"])
    assert isinstance(results[0], str)
    assert [r["outcome"] for r in llm.requests()] == ["fault", "fault", "completed"]
