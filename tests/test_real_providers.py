"""The numbered cases of issue #23: what real providers send, read right in every calling style.

Wire shapes come from the providers' documents named in each test (and the official SDKs' types,
which tests/test_sdk_referee.py holds the offline model to).
"""

from __future__ import annotations

import email.utils
import time

import pytest

from baml_magic.many._batch_wire import BatchError, Wire
from baml_magic.testing import wait_until
from baml_magic.wire import read_stream, retry_after
from tests.conftest import CLIENT, STORY, baml_cell

BATCHING = CLIENT.replace('model "local"', 'model "local?batch_seconds=0.5&item_error_every=3"')


def test_openai_batch_failures_come_from_the_error_file(shell) -> None:
    # platform.openai.com/docs/guides/batch: failed requests are in error_file_id, not the output file
    baml_cell(shell, BATCHING + STORY)
    job = shell.user_ns["GenerateStory"].batch([f"topic {i}" for i in range(6)], poll=0.1)
    results = job.result(timeout=30, on_error="return")
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [2, 5] and "HTTP 400" in str(results[2]) and "item_error_every" in str(results[2])
    assert "not answered" not in str(results[2])
    assert job.progress.failed == 2 and "2 failed" in job.summary()


def test_a_failed_batch_says_why(shell) -> None:
    # openai.types.Batch.errors.data[]: code, message, line
    baml_cell(shell, CLIENT.replace('model "local"', 'model "local?batch_status=failed"') + STORY)
    job = shell.user_ns["GenerateStory"].batch(["a"], poll=0.1)
    assert job.wait(10) and job.status == "failed"
    assert "model_not_found" in job.summary() and "line 1" in job.summary()
    with pytest.raises(BatchError, match="failed at the provider: model_not_found"):
        job.result()


def test_an_expired_batch_keeps_what_finished(shell) -> None:
    baml_cell(shell, CLIENT.replace('model "local"', 'model "local?batch_status=expired&batch_seconds=0.2"') + STORY)
    job = shell.user_ns["GenerateStory"].batch([f"t{i}" for i in range(4)], poll=0.1)
    results = job.result(timeout=10, on_error="return")
    assert job.status == "expired"
    assert [isinstance(r, BaseException) for r in results] == [False, False, True, True]
    assert "batch_expired" in str(results[3])


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # openai-python reads retry-after-ms first
    ({"Retry-After": "3"}, 3.0),
    ({"x-ratelimit-reset-requests": "1m2.5s", "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-tokens": "500ms", "x-ratelimit-remaining-tokens": "900"}, 62.5),  # OpenAI rate-limit headers
    ({"x-ratelimit-reset-tokens": "500ms"}, 0.5),
    ({"content-type": "application/json"}, None),
])
def test_retry_after_as_the_sdks_read_it(headers, seconds) -> None:
    assert retry_after(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after({"retry-after": when}) or 0) <= 30


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["retry_after=none", "retry_after_ms=200", "reset_requests=300ms"])
def test_a_429_without_retry_after_is_waited_out(shell, llm, setting) -> None:
    baml_cell(shell, CLIENT.replace('model "local"', f'model "local?fault=http_429&times=2&{setting}"') + STORY)
    started = time.monotonic()
    values = shell.user_ns["GenerateStory"].map(["owls"])
    assert values[0].title and time.monotonic() - started < 8, "retried after a back-off, not failed at once"


def test_streamed_usage_without_include_usage_is_estimated_and_says_how(shell) -> None:
    # OpenAI API reference, stream_options: no usage chunk unless include_usage is asked for
    generic = 'client<llm> Fast {\n  provider "openai-generic"\n  options {\n    base_url env.LOCAL_LLM_BASE_URL\n' \
              '    model "local"\n  }\n}\n'
    baml_cell(shell, generic + STORY)
    story = shell.user_ns["GenerateStory"]
    story("owls")
    usage = story.last.usage
    assert usage.estimated and usage.input_tokens and usage.output_tokens
    assert "include_usage" in (story.last.facts.hint or "")
    table = shell.run_line_magic("baml", "usage")
    assert table.rows[0][5].startswith("~") and "include_usage" in repr(table)


def test_anthropic_output_tokens_come_from_message_delta() -> None:
    # docs.anthropic.com/en/docs/build-with-claude/streaming: message_delta usage has only output_tokens
    events = [{"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1,
                                                              "cache_read_input_tokens": 4}}},
              {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}},
              {"type": "message_stop"}]
    reply = read_stream(events)
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (14, 42)
    assert reply.usage.cached_input_tokens == 4 and reply.ended


@pytest.mark.slow
def test_azure_batches_go_to_the_resource_with_api_version(shell, llm) -> None:
    # learn.microsoft.com/azure/ai-services/openai/how-to/batch: /openai/files and /openai/batches?api-version
    azure = ('client<llm> Az {\n  provider azure-openai\n  options {\n'
             f'    base_url "{llm.url}/openai/deployments/local"\n    api_version "2024-10-21"\n'
             '    api_key "azure-local-key-0123456789"\n  }\n}\n')
    baml_cell(shell, azure + STORY.replace("client Fast", "client Az"))
    story = shell.user_ns["GenerateStory"]
    wire = Wire.of(story._http_request(("x",), {}, stream=False, sending=True), "Az")
    assert wire.url("/files") == f"{llm.url}/openai/files?api-version=2024-10-21" and wire.deployment == "local"
    values = story.batch(["owls", "bats"], poll=0.1).result(timeout=30)
    assert [v.title for v in values] and all(v.body for v in values)


@pytest.mark.slow
def test_anthropic_batch_counts_wait_for_the_end(shell) -> None:
    from tests.test_media import ANTHROPIC

    baml_cell(shell, ANTHROPIC.replace('model "local"', 'model "local?batch_seconds=2"') +
              'function Hi(x: string) -> string {\n  client Claude\n  prompt #"{{ _.role("user") }} Say {{ x }}"#\n}\n')
    job = shell.user_ns["Hi"].batch(["a", "b"], poll=0.1)
    wait_until(lambda: job.status == "in_progress", what="the batch to be in progress")
    assert job.status == "in_progress" and "counts results when the batch ends" in job.summary()
    assert len(job.result(timeout=20)) == 2 and job.progress.results_url
    assert "counts results" not in job.summary()


def test_batch_arguments_ids_and_provider_text_are_checked(shell, llm) -> None:
    # issue #29 cases 4, 5, 7, 10 (part): a bad poll, another function's batch id, a key echoed past the cut
    other_fn = STORY[STORY.index("function"):].replace("GenerateStory", "Other")
    baml_cell(shell, BATCHING + STORY + other_fn)
    story, other = shell.user_ns["GenerateStory"], shell.user_ns["Other"]
    for bad in (0, -1, float("nan"), True):
        with pytest.raises((TypeError, ValueError), match="poll"):
            story.batch(["a"], poll=bad)
    job = story.batch(["a", "b"], poll=0.1)
    with pytest.raises(BatchError, match=r"sent by GenerateStory\.batch, not Other\.batch"):
        other.batch_resume(job.id)
    with pytest.raises(ValueError, match="timeout"):
        job.result(timeout=-5)
    assert len(job.result(timeout=20)) == 2
    from baml_magic._redact import remember_headers
    from baml_magic.many._batch_wire import shown

    key = "sk-echoed-0123456789abcdefghijklmnopqrstuv"
    remember_headers({"authorization": f"Bearer {key}"})
    text = shown("x" * 270 + f" invalid key {key}")  # the key straddles the cut at 300 characters
    assert key[:8] not in text and "[redacted]" in text
