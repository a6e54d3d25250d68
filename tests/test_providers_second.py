"""Issue #34, real providers' second round: what the transcripts don't cover.

Maps retry what the official SDKs retry (5xx, Anthropic's 529 overload) and don't bill a refused attempt;
Anthropic's rate-limit reset headers; an accepted incomplete answer in the view, ``Fn.last`` and a trace
span; the reader of a wire chosen by the provider, never by the shape of an event.
"""

from __future__ import annotations

import datetime

import pytest

from baml_magic import IncompleteAnswerError
from baml_magic.observe._trace import _attributes
from baml_magic.views import status_text
from baml_magic.wire import read_body, read_stream, retry_after
from tests.conftest import CLIENT, STORY, baml_cell


def _faulty(fault: str, times: int) -> str:
    return CLIENT.replace('model "local"', f'model "local?fault={fault}&times={times}"') + STORY


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["http_500", "http_529"])
def test_a_map_tries_a_server_error_again_as_the_sdks_do(shell, llm, fault: str) -> None:
    baml_cell(shell, _faulty(fault, 2))
    llm.reset()
    results = shell.user_ns["GenerateStory"].map(["owls"], on_error="return")
    assert results[0].title, results
    assert [r["outcome"] for r in llm.requests()] == ["fault", "fault", "completed"]
    baml_cell(shell, _faulty(fault, 3).replace("times=3", "times=3&x=1"))
    llm.reset()
    failed = shell.user_ns["GenerateStory"].map(["owls"], on_error="return")
    assert isinstance(failed[0], Exception) and len(llm.requests()) == 3, "two retries, then the error"


def test_a_rate_limited_attempt_costs_nothing(shell, llm) -> None:
    baml_cell(shell, CLIENT.replace('model "local"', 'model "local?fault=http_429&retry_after=100"') + STORY)
    fn = shell.user_ns["GenerateStory"]
    with pytest.raises(Exception, match="429"):
        fn("owls")
    refused = fn.last.usage  # what a map's tokens and cost add up, per call
    assert not refused.input_tokens and not refused.output_tokens, refused


def test_anthropic_s_reset_headers_say_how_long_to_wait() -> None:
    # Anthropic API docs, Rate limits: anthropic-ratelimit-*-reset are RFC 3339 times; -remaining 0 marks the one
    in_three = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)).isoformat()
    in_one = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)).isoformat()
    wait = retry_after({"anthropic-ratelimit-requests-reset": in_one, "anthropic-ratelimit-requests-remaining": "4",
                        "anthropic-ratelimit-tokens-reset": in_three, "anthropic-ratelimit-tokens-remaining": "0"})
    assert wait is not None and 2.0 < wait <= 3.0, wait
    assert retry_after({"retry-after-ms": "nan"}) is None


def test_the_reader_follows_the_provider_not_the_shape() -> None:
    # A Responses API stream has typed events, like Anthropic's: read as Anthropic's it never ends.
    events = [{"type": "response.created", "response": {"status": "in_progress", "model": "gpt-4.1-mini"}},
              {"type": "response.output_text.delta", "delta": "{}"},
              {"type": "response.completed", "response": {"status": "completed", "output": [],
                                                          "usage": {"input_tokens": 3, "output_tokens": 1}}}]
    assert read_stream(events, "openai-responses").ended
    assert not read_stream(events, "anthropic").ended
    body = {"output": {"message": {"content": [{"text": "{}"}]}}, "stopReason": "guardrail_intervened",
            "usage": {"inputTokens": 1100, "outputTokens": 15, "cacheReadInputTokens": 1024}}
    reply = read_body(body, "aws-bedrock")  # Bedrock Converse: inputTokens excludes the cached input
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.cached_input_tokens) == (2124, 1024)
    assert "filter" in (reply.incomplete or "")


def test_an_accepted_incomplete_answer_still_says_so(shell, llm) -> None:
    baml_cell(shell, CLIENT.replace('model "local"', 'model "local"\n    max_tokens 3') +
              'function Say(topic: string) -> string {\n  client Fast\n'
              '  prompt #"Say something about {{ topic }}"#\n}\n')
    fn = shell.user_ns["Say"]
    for style in (fn, fn.with_options(stream=False)):
        with pytest.raises(IncompleteAnswerError) as raised:
            style("owls")
        assert "cut at the token limit" in str(raised.value) and raised.value.value == fn.last.partial
        assert raised.value.finish_reason == "length"
    value = fn.with_options(allow_incomplete=True)("owls")
    run = fn.last
    assert run.status == "done" and run.value == value and "cut at the token limit" in (run.incomplete or "")
    assert "cut at the token limit" in status_text(run)
    assert "cut at the token limit" in _attributes(run, run.facts, None)["baml.incomplete"]
    shell.run_line_magic("config", "BamlMagic.allow_incomplete = True")
    assert fn("owls") == value
