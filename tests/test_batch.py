"""Fn.batch through the providers' batch APIs, offline: OpenAI-style files + batches, Anthropic message batches."""

from __future__ import annotations

import json
import urllib.request

import pytest

from baml_magic import BatchItemError, IncompleteAnswerError
from baml_magic.many._batch import BatchError
from baml_magic.testing import wait_until
from tests.conftest import CLIENT, STORY, baml_cell
from tests.test_media import ANTHROPIC

BATCHED = CLIENT.replace("Fast", "Batched").replace('model "local"', 'model "local?batch_seconds=3"')
TOPICS = STORY.replace("client Fast", "client Batched").replace("GenerateStory", "Tell")


def _batch(llm, batch_id: str) -> dict:
    with urllib.request.urlopen(f"{llm.base_url}/batches/{batch_id}") as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_ten_thousand_inputs_come_back_typed_and_in_order(shell, llm) -> None:
    baml_cell(shell, CLIENT + STORY)
    story = shell.user_ns["GenerateStory"]
    before = len(llm.requests())
    job = story.batch([f"topic {i}" for i in range(10_000)], poll=0.2)
    values = job.result(timeout=120)
    assert len(values) == 10_000 and job.status == "completed"
    assert all(type(v).__name__ == "Story" for v in values)
    assert all(f"topic {i}" in v.title.lower() for i, v in enumerate(values)), "input order"
    assert len(llm.requests()) == before, "no request went through chat completions: one batch did it all"
    assert _batch(llm, job.id)["request_counts"] == {"total": 10_000, "completed": 10_000, "failed": 0}


def test_cancel_cancels_the_provider_batch_and_keeps_what_finished(shell, llm) -> None:
    baml_cell(shell, BATCHED + TOPICS)
    job = shell.user_ns["Tell"].batch([f"topic {i}" for i in range(100)], poll=0.1)
    wait_until(lambda: _batch(llm, job.id)["request_counts"]["completed"] >= 5, what="some items to finish")
    job.cancel()
    assert job.wait(10) and job.status == "cancelled" and _batch(llm, job.id)["status"] == "cancelled"
    results = job.result(on_error="return")
    done = [r for r in results if not isinstance(r, BaseException)]
    # The real API puts requests a cancel stopped in the error file (code batch_cancelled)
    assert 0 < len(done) < 100 and "batch_cancelled" in str(results[-1])
    with pytest.raises(Exception, match="batch_cancelled"):
        job.result()


@pytest.mark.slow
def test_anthropic_message_batches(shell, llm) -> None:
    baml_cell(shell, ANTHROPIC + 'function Hi(x: string) -> string {\n  client Claude\n'
                                 '  prompt #"{{ _.role("user") }} Say {{ x }}"#\n}\n')
    shell.run_line_magic("config", "BamlMagic.prices = {'local': (1.0, 2.0)}")
    job = shell.user_ns["Hi"].batch(["a", "b", "c"], poll=0.1)
    assert job.id.startswith("msgbatch_")
    assert [v.startswith("Say") or "say" in v for v in job.result(timeout=30)] == [True] * 3
    assert job.status == "ended"
    usage = job.usage
    assert usage.input_tokens and usage.output_tokens
    assert job.cost == pytest.approx((usage.input_tokens * 1.0 + usage.output_tokens * 2.0) / 1e6 / 2)
    assert "at batch price (half of $" in job.summary()


@pytest.mark.slow
def test_a_batch_item_cut_at_the_token_limit_says_so(shell, llm) -> None:
    baml_cell(shell, ANTHROPIC.replace("max_tokens 500", "max_tokens 3") +
              'function Hi(x: string) -> string {\n  client Claude\n  prompt #"{{ _.role("user") }} Say {{ x }}"#\n}\n'
              'class Pair {\n  a string\n  b string\n}\n'
              'function Two(x: string) -> Pair {\n  client Claude\n  prompt #"{{ _.role("user") }} Say {{ x }}. '
              '{{ ctx.output_format }}"#\n}\n')
    [cut] = shell.user_ns["Hi"].batch(["a"], poll=0.1).result(timeout=30, on_error="return")
    assert isinstance(cut, IncompleteAnswerError) and "cut at the token limit" in str(cut) and cut.value, cut
    assert shell.user_ns["Hi"].with_options(allow_incomplete=True).batch(["a"], poll=0.1).result(timeout=30)[0]
    [unparsed] = shell.user_ns["Two"].batch(["a"], poll=0.1).result(timeout=30, on_error="return")
    assert isinstance(unparsed, BatchItemError) and "cut at the token limit" in str(unparsed), unparsed


def test_no_batch_api_bad_inputs_and_missing_keys_are_clear_and_send_nothing(shell, llm, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "not-a-real-key")
    baml_cell(shell, CLIENT + STORY + 'client<llm> Gemini {\n  provider google-ai\n  options {\n'
                                      '    model "gemini-2.5-flash"\n  }\n}\n'
                                      'function G(x: string) -> string {\n  client Gemini\n  prompt #"{{ x }}"#\n}\n')
    with pytest.raises(BatchError, match=r"no batch API .*use Fn\.map"):
        shell.user_ns["G"].batch(["a"])
    def sent() -> tuple[int, int]:  # files uploaded, and chat requests
        files = json.loads(urllib.request.urlopen(f"{llm.base_url}/files").read())["data"]
        return len(files), len(llm.requests())

    before = sent()
    with pytest.raises(TypeError, match="input 1"):
        shell.user_ns["GenerateStory"].batch(["fine", 3, "fine"])
    assert sent() == before, "nothing was uploaded or sent"


def test_a_new_kernel_resumes_a_running_batch_by_id(llm, tmp_path, kernel_factory) -> None:
    (tmp_path / "tell.baml").write_text(BATCHED.replace("batch_seconds=3", "batch_seconds=6") + TOPICS)
    first = kernel_factory(tmp_path)
    first.ok("%load_ext baml_magic\n%baml load .")
    batch_id = first.ok("job = Tell.batch([f'topic {i}' for i in range(300)])\nprint(job.id)").printed.split()[-1]
    first.shutdown()
    assert _batch(llm, batch_id)["status"] in ("validating", "in_progress"), "the batch outlives its kernel"
    second = kernel_factory(tmp_path)
    second.ok("%load_ext baml_magic\n%baml load .")
    out = second.ok(f"job = Tell.batch_resume({batch_id!r})\nvalues = job.result(timeout=60)\n"
                    "print(job.status, len(values), 'topic 299' in values[299].title.lower())", timeout=90).printed
    assert out.split() == ["completed", "300", "True"]
