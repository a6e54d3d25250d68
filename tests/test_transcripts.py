"""Provider transcripts replayed through every calling style: values, partials, usage, errors, secrets.

Each file in ``tests/transcripts/`` is written from a provider's own documentation or official SDK
(its ``source`` names which) and served by ``baml_magic.testing.replay`` on 127.0.0.1: a stream to
a streamed request (every style, where the transcript has one), a whole body otherwise. Nothing here
comes from the offline model.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from baml_py.errors import BamlError
from pydantic import TypeAdapter

from baml_magic import IncompleteAnswerError
from baml_magic.testing.replay import ReplayServer, replay_server
from tests.conftest import baml_cell

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.json"))
STREAM_STYLES = ("call", "stream", "aio")
PLAIN_STYLES = ("one_piece", "map")


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with replay_server() as server:
        yield server


def _client(spec: dict[str, Any], url: str) -> str:
    lines = []
    for key, value in spec["options"].items():
        text = value.replace("{url}", url) if isinstance(value, str) else value
        lines.append(f"    {key} {json.dumps(text)}")
    return f"client<llm> Replayed {{\n  provider {spec['provider']}\n  options {{\n" + "\n".join(lines) + "\n  }\n}\n"


def _project(transcript: dict[str, Any], url: str) -> str:
    story = "class Story {\n  title string\n  body string\n}\n"
    return _client(transcript["client"], url) + story + (
        f"function Replay(topic: string) -> {transcript['returns']} {{\n  client Replayed\n"
        '  prompt #"\n    {{ _.role("user") }} Tell me about {{ topic }}. {{ ctx.output_format }}\n  "#\n}\n')


def _call(fn: Any, style: str) -> Any:
    if style == "call":
        return fn("owls")
    if style == "stream":
        with fn.stream("owls") as stream:
            partials = list(stream)
        assert partials, "the stream gave partials"
        return stream.final
    if style == "aio":
        return asyncio.run(fn.aio("owls"))
    if style == "one_piece":
        return fn.with_options(stream=False)("owls")
    results = fn.map(["owls"], on_error="return")
    if isinstance(results[0], BaseException):
        raise results[0]
    return results[0]


def _last(fn: Any, style: str) -> Any:
    return fn.last_map.runs[0] if style == "map" else fn.last


def _styles() -> list[Any]:
    cases = []
    for path in TRANSCRIPTS:
        transcript = json.loads(path.read_text())
        for style in (*(STREAM_STYLES if "stream" in transcript else ()), *(PLAIN_STYLES if "body" in transcript
                                                                               else ())):
            cases.append(pytest.param(path, style, id=f"{path.stem}-{style}"))
    return cases


@pytest.mark.parametrize(("path", "style"), _styles())
def test_transcript(shell: Any, replay: ReplayServer, path: Path, style: str) -> None:
    transcript = replay.use(path)
    assert transcript["source"], "every transcript names the document it was written from"
    baml_cell(shell, _project(transcript, replay.url))
    fn = shell.user_ns["Replay"]
    expect = transcript["expect"]
    # One-piece calls and map items are streamed on the wire too (so an interrupt stops the server): they read
    # the transcript's stream where it has one, and ask for its body as plain requests where it has only that.
    streamed = style in STREAM_STYLES or "stream" in transcript
    shell.run_line_magic("config", f"BamlMagic.plain_requests = {not streamed}")
    error = expect.get("error") or (expect.get("stream_error") if streamed else None)
    if error:
        with pytest.raises(BamlError) as raised:
            _call(fn, style)
        message = _last(fn, style).error_message
        assert re.search(error, message), message
        assert "transcript-key" not in message and "transcript-key" not in str(raised.value)
        assert _last(fn, style).status == "error"
        return
    incomplete = expect.get("incomplete")
    if incomplete:
        _incomplete(fn, style, expect)
        return
    value = _call(fn, style)
    if "title" in expect:
        assert value.title == expect["title"] and value.body
    if "text" in expect:
        assert value == expect["text"]
    usage = _last(fn, style).usage
    expected = expect.get("body_usage") if not streamed and "body_usage" in expect else expect.get("usage")
    if expected is not None:
        assert [usage.input_tokens, usage.output_tokens] == expected and not usage.estimated
    if "cached" in expect and expected is not None:
        assert usage.cached_input_tokens == expect["cached"]
    if "reasoning" in expect:  # the thinking, apart from the answer, and its own count where the provider sends one
        assert _last(fn, style).reasoning == expect["reasoning"], _last(fn, style).reasoning
        assert usage.reasoning_tokens == expect["reasoning_tokens"], usage
    if expect.get("stream_estimated") and streamed:
        assert usage.estimated and usage.input_tokens and usage.output_tokens, usage
        assert expect["hint"] in (_last(fn, style).facts.hint or "")
        assert "estimated" in shell.run_line_magic("baml", "usage").notes[0]


def _incomplete(fn: Any, style: str, expect: dict[str, Any]) -> None:
    """An answer that parsed but is not whole: an error by default, with the value kept; accepted when asked."""
    with pytest.raises(IncompleteAnswerError) as raised:
        _call(fn, style)
    last = _last(fn, style)
    assert re.search(expect["incomplete"], str(raised.value)), str(raised.value)
    assert last.status == "error" and re.search(expect["incomplete"], last.incomplete or "")
    assert last.facts.reply.finish == expect["finish"]
    for kept in (raised.value.value, last.partial):
        assert (kept.title == expect["title"]) if "title" in expect else kept == expect["text"], kept
    assert raised.value.raw_output, "the raw text is kept"
    value = _call(fn.with_options(allow_incomplete=True), style)
    accepted = _last(fn, style)
    assert (value.title == expect["title"]) if "title" in expect else value == expect["text"]
    assert accepted.status == "done" and re.search(expect["incomplete"], accepted.incomplete or "")
    if "usage" in expect:
        assert [accepted.usage.input_tokens, accepted.usage.output_tokens] == expect["usage"]


def _objects(answer: dict[str, Any]) -> list[Any]:
    if "events" in answer:
        return [e["data"] for e in answer["events"] if isinstance(e, dict) and isinstance(e.get("data"), dict)]
    return [answer["json"]]


@pytest.mark.parametrize("path", [p for p in TRANSCRIPTS if "sdk" in json.loads(p.read_text())],
                         ids=lambda p: p.stem)
def test_the_official_sdk_accepts_every_object_of_a_transcript(path: Path) -> None:
    """Each object a transcript serves is validated by the provider's official SDK type that its ``sdk`` names."""
    transcript = json.loads(path.read_text())
    for part, dotted in transcript["sdk"].items():
        module, _, name = dotted.rpartition(".")
        adapter = TypeAdapter(getattr(importlib.import_module(module), name))
        objects = _objects(transcript[part])
        assert objects, (path.name, part)
        for obj in objects:
            adapter.validate_python(obj)


def test_every_transcript_names_its_source() -> None:
    assert len(TRANSCRIPTS) >= 12
    for path in TRANSCRIPTS:
        transcript = json.loads(path.read_text())
        assert len(transcript["source"]) > 40, path.name


@pytest.mark.parametrize("path", [p for p in TRANSCRIPTS if "reasoning" in json.loads(p.read_text())["expect"]],
                         ids=lambda p: p.stem)
def test_a_whole_answer_s_thinking_is_read_apart_from_its_text(path: Path) -> None:
    """The thinking in a whole body (a plain request's answer), read by the provider's family as a stream's is."""
    from baml_magic.wire import read_body

    transcript = json.loads(path.read_text())
    reply = read_body(transcript["body"]["json"], transcript["client"]["provider"])
    assert reply.reasoning == transcript["expect"]["reasoning"]
    assert reply.usage is not None and reply.usage.reasoning_tokens == transcript["expect"]["reasoning_tokens"]
