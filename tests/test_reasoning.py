"""See it think (issue #47): a reasoning model's thinking, read from the wire by the client's provider, streams
beside the typed partials (before the answer), is kept as ``Fn.last.reasoning`` with its tokens counted apart,
and an interrupt while the model thinks closes the request.

The offline model thinks with ``model "local?think=N"``: N words of thinking sent as ``reasoning_content``
deltas (OpenAI-compatible) or an Anthropic ``thinking`` block, as the providers document them; the four real
providers' shapes are the transcripts in ``tests/transcripts/`` (``test_transcripts.py``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from baml_magic import local_llm, testing
from baml_magic.local_llm._streaming import THOUGHT
from baml_magic.testing import wait_until
from baml_magic.views import status_text
from tests.conftest import CLIENT, STORY, baml_cell

WORDS = 40
THINKING = " ".join((THOUGHT * 3).split()[:WORDS])


def _project(base_url: str) -> str:
    chat = CLIENT.replace("Fast", "Thinker").replace('model "local"', f'model "local?think={WORDS}&tps=100"')
    claude = ('client<llm> Claude {\n  provider anthropic\n  options {\n'
              f'    base_url "{base_url.removesuffix("/v1")}"\n    model "local?think={WORDS}&tps=100"\n'
              '    api_key "sk-ant-offline-0123456789"\n  }\n}\n')
    story = STORY.split("function", 1)[0]
    functions = "".join(f'function {name}(prompt: string) -> Story {{\n  client {client}\n'
                        '  prompt #"Write about {{ prompt }}. {{ ctx.output_format }}"#\n}\n'
                        for name, client in (("ChatStory", "Thinker"), ("ClaudeStory", "Claude")))
    return chat + claude + story + functions


@pytest.fixture
def thinkers(shell: testing.TestingShell, llm: local_llm.LocalLLM) -> dict[str, Any]:
    baml_cell(shell, _project(llm.base_url))
    return {name: shell.user_ns[name] for name in ("ChatStory", "ClaudeStory")}


@pytest.mark.slow  # ten calls that think for 0.4 s (measured: about 7 s)
@pytest.mark.parametrize("name", ["ChatStory", "ClaudeStory"])
def test_the_thinking_streams_before_the_answer_and_is_kept_apart_in_every_style(
        thinkers: dict[str, Any], name: str) -> None:
    fn = thinkers[name]
    handle = fn.start("owls")
    run = fn.last
    wait_until(lambda: run.reasoning and len(run.reasoning.split()) >= 5, what="the first thoughts", timeout=20)
    assert run.partial is None and not run.done, "the thinking comes before the answer"
    story = handle.result(timeout=30)
    assert story.title and run.status == "done" and run.reasoning == THINKING
    assert run.time_to_first_thought is not None and run.time_to_first_token is not None
    assert run.time_to_first_thought < run.time_to_first_token
    counted = WORDS if name == "ChatStory" else None  # Anthropic counts thinking inside output_tokens only
    assert run.usage.reasoning_tokens == counted and run.usage.output_tokens > WORDS
    assert "first thought" in status_text(run) and THINKING not in str(story)
    with fn.stream("owls") as stream:
        partials = list(stream)
    assert partials and all(p.title is not None or p.body is not None for p in partials)  # no empty partial
    assert fn.last.reasoning == THINKING
    for value in (fn("owls"), asyncio.run(fn.aio("owls")), fn.with_options(stream=False)("owls"),
                  fn.map(["owls"])[0]):
        assert value.title
    assert fn.last.reasoning == THINKING and fn.last_map.runs[0].reasoning == THINKING


@pytest.mark.slow  # a call interrupted while it thinks (measured: about 1 s)
def test_an_interrupt_while_the_model_thinks_closes_the_request(thinkers: dict[str, Any],
                                                                llm: local_llm.LocalLLM) -> None:
    fn = thinkers["ChatStory"]
    handle = fn.start("tides")
    run = fn.last
    wait_until(lambda: run.reasoning and len(run.reasoning.split()) >= 5, what="the first thoughts", timeout=20)
    cancelled_at = time.time()
    handle.cancel()
    wait_until(lambda: llm.requests()[-1]["outcome"] != "running", what="the request to close")
    request = llm.requests()[-1]
    assert request["outcome"] == "client_closed" and request["tokens_sent"] < WORDS
    assert request["ended"] - cancelled_at < 1.0  # benchmarks/cancellation.py measures the milliseconds
    assert run.status == "cancelled" and run.partial is None and run.reasoning


@pytest.mark.slow  # a call that thinks, then its replay (measured: about 1.5 s)
def test_a_recorded_answer_replays_its_thinking_and_the_kept_run_holds_it(
        shell: testing.TestingShell, thinkers: dict[str, Any], llm: local_llm.LocalLLM, tmp_path: Any) -> None:
    fn = thinkers["ChatStory"]
    shell.run_line_magic("baml", f"cache on --path {tmp_path}")
    fn("owls")
    sent = len(llm.requests())
    shell.run_line_magic("baml", "cache replay")
    replayed = fn.stream("owls")
    thoughts_before_answer = []
    for _ in replayed:
        thoughts_before_answer.append(fn.last.reasoning)
    assert len(llm.requests()) == sent and fn.last.cached is not None, "answered from the cache"
    assert thoughts_before_answer[0] == THINKING and fn.last.reasoning == THINKING
    assert fn.last.saved.reasoning_tokens == WORDS and fn.last.usage.output_tokens == 0
    replay, recorded = fn.history.records[:2]  # newest first, as the runs file keeps them
    assert replay.reasoning == recorded.reasoning == THINKING and recorded.reasoning_tokens == WORDS
    assert replay.replayed and not recorded.replayed


def test_in_a_notebook_the_thinking_shows_open_above_the_fields_then_folds(kernel: testing.Kernel,
                                                                         llm: local_llm.LocalLLM) -> None:
    kernel.ok("%%baml\n" + _project(llm.base_url))
    execution = kernel.ok("story = ChatStory('owls')")
    frames = [m["content"]["data"]["text/html"] for m in execution.of_type("update_display_data")]
    thinking = [f for f in frames if '<details class="baml-magic-reasoning" open>' in f]
    assert thinking and "baml-class" not in thinking[0], "while it thinks, the thinking shows open, no fields yet"
    final = frames[-1]
    assert '<details class="baml-magic-reasoning">' in final and "baml-class" in final and 'data-status="done"' in final
    text = execution.of_type("update_display_data")[-1]["content"]["data"]["text/plain"]
    assert "(thinking) First I read" in text and f"{WORDS} thinking" in text
