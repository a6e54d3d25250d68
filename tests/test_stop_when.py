"""Calls that end themselves (issue #47): ``stop_when`` sees each typed partial; when it says so the request is
closed there (the model server sees the connection close, most tokens never sent), the partial is the value and
``Fn.last.status == "stopped"``, in every calling style."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from baml_magic import local_llm, testing
from baml_magic.testing import wait_until
from tests.conftest import CLIENT, STORY, baml_cell

# A long answer: 300 words at 100 tokens/s, three seconds if nothing stops it.
LONG = STORY.replace("GenerateStory", "LongStory").replace("client Fast", "client Long")
LONG_CLIENT = CLIENT.replace("Fast", "Long").replace('model "local"', 'model "local?tps=100&words=300"')


class Enough:
    """A predicate that is true once the body has ten words; it notes when it first said so."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.seen = 0

    def __call__(self, partial: Any) -> bool:
        self.seen += 1
        if partial.body is not None and len(partial.body.split()) >= 10:
            self.at = self.at or time.time()
            return True
        return False


@pytest.fixture
def long_story(shell: testing.TestingShell) -> Any:
    baml_cell(shell, LONG_CLIENT + LONG)
    return shell.user_ns["LongStory"]


def _closed_early(llm: local_llm.LocalLLM, enough: Enough) -> dict[str, Any]:
    wait_until(lambda: llm.requests()[-1]["outcome"] != "running", what="the server to see the close")
    request = llm.requests()[-1]
    assert request["outcome"] == "client_closed", request["outcome"]
    assert request["tokens_sent"] < request["tokens_planned"] / 3, (request["tokens_sent"], request["tokens_planned"])
    assert enough.at is not None and request["ended"] - enough.at < 1.0  # benchmarks/stop_when.py: milliseconds
    return request


@pytest.mark.slow  # six calls of a streamed answer (measured: about 3 s)
def test_every_calling_style_stops_at_the_partial_that_satisfies_it_and_closes_the_request(
        shell: testing.TestingShell, llm: local_llm.LocalLLM, long_story: Any) -> None:
    enough = Enough()
    value = long_story("owls", stop_when=enough)
    _closed_early(llm, enough)
    assert long_story.last.status == "stopped" and long_story.last.error is None
    assert value is long_story.last.value and enough(value) and len(value.body.split()) < 60
    assert long_story.last.usage.output_tokens and long_story.last.usage.output_tokens < 100

    enough = Enough()
    with long_story.with_options(stop_when=enough).stream("owls") as stream:
        partials = list(stream)
    _closed_early(llm, enough)
    assert partials and stream.final is long_story.last.value and long_story.last.status == "stopped"

    enough = Enough()
    handle = long_story.start("owls", stop_when=enough)
    assert enough(handle.result(timeout=30)) and long_story.last.status == "stopped"
    _closed_early(llm, enough)

    enough = Enough()
    value = asyncio.run(long_story.aio("owls", stop_when=enough))
    assert enough(value) and long_story.last.status == "stopped"
    _closed_early(llm, enough)

    enough = Enough()

    async def read() -> tuple[list[Any], Any]:
        stream = long_story.astream("owls", stop_when=enough)
        return [partial async for partial in stream], stream.final

    partials, final = asyncio.run(read())
    assert partials and enough(final) and long_story.last.status == "stopped"
    _closed_early(llm, enough)

    enough = Enough()
    values = long_story.map(["owls", "tides"], concurrency=2, stop_when=enough)
    assert all(enough(v) for v in values) and long_story.last_map.count("stopped") == 2
    wait_until(lambda: all(r["outcome"] != "running" for r in llm.requests()[-2:]), what="both closes")
    assert all(r["outcome"] == "client_closed" for r in llm.requests()[-2:])


@pytest.mark.slow  # streamed calls (measured: about 1.5 s)
def test_a_predicate_that_fails_ends_the_call_with_its_own_error_and_a_bad_one_is_one_line(
        shell: testing.TestingShell, llm: local_llm.LocalLLM, long_story: Any) -> None:
    def broken(partial: Any) -> bool:
        return bool(partial.word_count > 3)  # a field the answer does not have

    with pytest.raises(AttributeError):
        long_story("owls", stop_when=broken)
    assert long_story.last.status == "error"
    assert wait_until(lambda: llm.requests()[-1]["outcome"] != "running", what="the close") and \
        llm.requests()[-1]["outcome"] == "client_closed"
    with pytest.raises(ValueError) as raised:
        long_story("owls", stop_when="the body is long")
    assert "stop_when takes a function of the partial or 'checks'" in str(raised.value)
    with pytest.raises(TypeError):
        long_story.with_options(stop_when=3)
    never = long_story("owls", stop_when=lambda p: False)  # a predicate never true: the call runs to its end
    assert long_story.last.status == "done" and len(never.body.split()) > 200


def test_a_stopped_call_in_a_notebook_says_so_and_why(kernel: testing.Kernel, llm: local_llm.LocalLLM) -> None:
    kernel.ok("%%baml\n" + LONG_CLIENT + LONG)
    execution = kernel.ok("story = LongStory('owls', stop_when=lambda p: p.body is not None "
                          "and len(p.body.split()) >= 10)")
    final = execution.of_type("update_display_data")[-1]["content"]["data"]
    assert 'data-status="stopped"' in final["text/html"], final["text/html"][:300]
    assert "stopped early by stop_when after" in final["text/plain"] and "tokens" in final["text/plain"]
    printed = kernel.ok("print(LongStory.last.status, len(story.body.split()) < 60)").printed.split()
    assert printed[-2:] == ["stopped", "True"]
    wait_until(lambda: llm.requests()[-1]["outcome"] != "running", what="the server to see the close")
    assert llm.requests()[-1]["outcome"] == "client_closed"


def test_a_misspelt_option_is_refused_before_any_request(shell: testing.TestingShell, llm: local_llm.LocalLLM,
                                                          long_story: Any) -> None:
    before = len(llm.requests())
    with pytest.raises(TypeError) as raised:
        long_story("owls", stop_early=lambda p: True)
    assert "stop_early" in str(raised.value) and len(llm.requests()) == before
