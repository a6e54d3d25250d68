"""Bedrock's ConverseStream end to end: AWS's binary event stream served over HTTP to BAML's ``aws-bedrock``
client, read by the product in every calling style.

The bytes are AWS's event stream encoding (tests/_bedrock.py); botocore's own ``EventStreamBuffer`` is the
referee of what is served. The events and stop reasons are the Bedrock Runtime API reference's (ConverseStream:
``messageStop.stopReason`` ``end_turn`` | ``max_tokens`` | ``guardrail_intervened`` | ``content_filtered`` ...,
``metadata.usage`` whose ``inputTokens`` excludes ``cacheReadInputTokens``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from baml_magic import IncompleteAnswerError
from tests import _bedrock
from tests.conftest import STORY, baml_cell


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[_bedrock.Bedrock]:
    server = _bedrock.Bedrock()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-example-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield server
    server.stop()


def _project(shell, server: _bedrock.Bedrock) -> None:
    client = f"""
client<llm> Fast {{
  provider "aws-bedrock"
  options {{
    model "anthropic.claude-3-haiku-20240307-v1:0"
    endpoint_url "{server.url}"
    region "us-east-1"
  }}
}}
"""
    baml_cell(shell, client + STORY)


def test_what_is_served_is_what_botocore_reads() -> None:
    data = b"".join(_bedrock.events("hello there", stop="max_tokens"))
    decoded = _bedrock.decode(data)
    assert [kind for kind, _ in decoded][:2] == ["messageStart", "contentBlockDelta"]
    assert decoded[-2] == ("messageStop", {"stopReason": "max_tokens", "p": "abcd"})
    assert decoded[-1][1]["usage"]["outputTokens"] == 9
    assert "".join(p["delta"]["text"] for k, p in decoded if k == "contentBlockDelta") == "hello there"


def _every_style(fn) -> dict[str, object]:
    async def aio() -> object:
        return await fn.aio("owls")

    def streamed() -> object:
        stream = fn.stream("owls")
        for _ in stream:
            pass
        return stream.final

    got: dict[str, object] = {}
    for style, call in [("call", lambda: fn("owls")),
                        ("one piece", lambda: fn.with_options(stream=False)("owls")),
                        ("stream", streamed),
                        ("aio", lambda: asyncio.run(aio())),
                        ("start", lambda: fn.start("owls").result(timeout=30))]:
        try:
            got[style] = call()
        except Exception as exc:  # noqa: BLE001 - each style's outcome is compared below
            got[style] = exc
    return got


def test_a_finished_stream_is_a_success_in_every_style(shell, bedrock) -> None:
    _project(shell, bedrock)
    fn = shell.user_ns["GenerateStory"]
    for style, value in _every_style(fn).items():
        assert not isinstance(value, Exception), (style, value)
        assert value.title == "Owls", (style, value)
    assert fn.last.status == "done" and fn.last.usage.output_tokens == 9 and not fn.last.usage.estimated
    assert any(p.endswith("/converse-stream") for p in bedrock.paths), bedrock.paths


@pytest.mark.parametrize("stop", ["max_tokens", "guardrail_intervened", "content_filtered"])
def test_a_stream_that_is_not_whole_says_so_in_every_style(shell, bedrock, stop: str) -> None:
    _project(shell, bedrock)
    bedrock.options = {"stop": stop}
    fn = shell.user_ns["GenerateStory"]
    for style, value in _every_style(fn).items():
        assert isinstance(value, IncompleteAnswerError), (style, value)
        assert stop in str(value) and "\n" not in str(value), (style, str(value))
    assert fn.last.partial.title == "Owls", "the parsed value is kept"


def test_a_stream_without_message_stop_is_cut(shell, bedrock) -> None:
    _project(shell, bedrock)
    bedrock.options = {"finish": False}
    fn = shell.user_ns["GenerateStory"]
    with pytest.raises(Exception, match="stream ended before the model finished"):
        list(fn.stream("owls"))
    assert fn.last.status == "error" and fn.last.partial is not None


def test_cached_input_is_counted_in_the_stream(shell, bedrock) -> None:
    _project(shell, bedrock)
    bedrock.options = {"usage": {"inputTokens": 10, "outputTokens": 9, "cacheReadInputTokens": 90,
                                 "totalTokens": 109}}
    fn = shell.user_ns["GenerateStory"]
    list(fn.stream("owls"))
    usage = fn.last.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (100, 90, 9), usage
