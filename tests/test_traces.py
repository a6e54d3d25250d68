"""Issue #26: every call as an OpenTelemetry GenAI span, read back from a real backend (Arize Phoenix).

One real kernel exports to Phoenix on 127.0.0.1 over OTLP/HTTP, configured only by the standard
``OTEL_*`` variables; the spans are read back through Phoenix's REST API. Calls in every style: a
streamed one, one in one piece, one that fails, one interrupted, a map, a compare grid, a test grid
and a batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baml_magic.testing import Kernel, wait_until
from baml_magic.testing.phoenix import Phoenix, executable, phoenix_server
from tests.conftest import CLIENT, STORY

SECRET = "sk-trace-secret-0123456789abcdef"  # read by a client under a name that does not look secret
PROJECT = CLIENT.replace('model "local"', 'model "local"\n    api_key env.TRACE_PASSPHRASE_VALUE') + STORY + '''
client<llm> Slow {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local?tps=20&words=40"
  }
}
client<llm> Broken {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local?fault=http_500"
  }
}
client<llm> Other {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local?seed=2"
  }
}
client<llm> Either {
  provider fallback
  options {
    strategy [Broken, Fast]
  }
}
test Dragons {
  functions [GenerateStory]
  args {
    prompt "dragons"
  }
}
'''


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    command = executable()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("Phoenix is not installed: make test installs it in .venv-phoenix")
        pytest.skip("Phoenix is not installed (make test installs it in .venv-phoenix)")
    with phoenix_server(tmp_path_factory.mktemp("phoenix"), command) as server:
        yield server


@pytest.fixture(scope="module")
def traced(llm, phoenix: Phoenix, kernel_factory_module) -> Kernel:
    kernel = kernel_factory_module({"OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.endpoint, "OTEL_SERVICE_NAME": "trace-test",
                                    "OTEL_BSP_SCHEDULE_DELAY": "200", "TRACE_PASSPHRASE_VALUE": SECRET})
    kernel.ok("%load_ext baml_magic\n%config BamlMagic.display = 'none'")
    kernel.ok("%%baml\n" + PROJECT)
    return kernel


@pytest.fixture(scope="module")
def kernel_factory_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: list[Kernel] = []

    def start(env: dict[str, str]) -> Kernel:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            started.append(Kernel(tmp_path_factory.mktemp("traced")))
        finally:
            for key, value in saved.items():
                os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
        return started[-1]

    yield start
    for kernel in started:
        kernel.shutdown()


def _calls(spans: list[dict[str, Any]], function: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["name"].startswith("chat ") and s["attributes"].get("baml.function") == function]


def test_every_calling_style_is_one_span_with_the_conventions_attributes(traced: Kernel, phoenix: Phoenix,
                                                                          llm) -> None:
    traced.ok("%baml trace on --content")
    traced.ok("story = GenerateStory('owls')\nwhole = GenerateStory.with_options(stream=False)('bats')")
    traced.run("GenerateStory.with_options(client='Broken')('x')")
    traced.ok("saved = GenerateStory.with_options(client='Either')('z')")  # a fallback: two attempts, one call
    msg_id, execution = traced.start("GenerateStory.with_options(client='Slow')('a long night')")
    wait_until(lambda: any(r["model"] == "local?tps=20&words=40" and r["tokens_sent"] > 3 for r in llm.requests()),
               what="the slow call's tokens to flow")
    traced.interrupt()
    traced.collect(msg_id, execution, timeout=30)
    traced.ok("values = GenerateStory.map(['a', 'b', 'c'])")
    traced.ok("grid = GenerateStory.compare(['x', 'y'], clients=['Fast', 'Other'])")
    traced.ok("%baml test")
    traced.ok("job = GenerateStory.batch(['p', 'q'], poll=0.1)\nbatched = job.result(timeout=30)")
    flushed = traced.ok("%baml trace flush").text
    assert "spans sent" in flushed and "0 failed · 0 pending" in flushed, flushed
    calls = 1 + 1 + 1 + 1 + 1 + 3 + 4 + 1 + 2  # streamed, whole, failed, fallback, interrupted, map, compare, test,
    # batch items
    def arrived() -> list[dict[str, Any]] | None:
        found = phoenix.spans()
        return found if len(_calls(found, "GenerateStory")) >= calls else None

    spans = wait_until(arrived, timeout=30, what=f"{calls} call spans in Phoenix")
    ours = _calls(spans, "GenerateStory")
    assert len(ours) == calls, [s["name"] for s in ours]
    assert SECRET not in json.dumps(spans) and SECRET[:12] not in json.dumps(spans), "no secret in exported data"

    by_id = {s["context"]["span_id"]: s for s in spans}
    done = [s for s in ours if s["attributes"].get("baml.status") == "done"]
    for span in done:
        a = span["attributes"]
        assert span["name"].startswith("chat local") and a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "openai-generic" and a["gen_ai.request.model"].startswith("local")
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert a["baml.client"] in ("Fast", "Other") or a.get("baml.batch")
    streamed = [s for s in done if s["attributes"].get("baml.stream") is True]
    assert streamed and all(any(e["name"] == "gen_ai.first_token" for e in s["events"]) for s in streamed)
    assert all("gen_ai.input.messages" in s["attributes"] for s in streamed), \
        ("content was asked for", [(s["name"], s["attributes"].get("baml.client"), s["attributes"].get("baml.cached"))
                                   for s in streamed if "gen_ai.input.messages" not in s["attributes"]])
    assert any(s["attributes"].get("gen_ai.response.finish_reasons") == ["stop"] for s in done)
    for span in streamed:  # the current GenAI conventions, and where Phoenix shows a typed result
        a = span["attributes"]
        assert a["gen_ai.request.stream"] is True and a["gen_ai.response.time_to_first_chunk"] > 0, a
        assert a["gen_ai.prompt.name"] == "GenerateStory"
        if "gen_ai.input.messages" in a:
            assert json.loads(a["output.value"])["title"], a["output.value"]

    failed = [s for s in ours if s["attributes"].get("baml.status") == "error"]
    assert len(failed) == 1 and failed[0]["status_code"] == "ERROR"
    assert failed[0]["attributes"]["error.type"].startswith("Baml")
    cancelled = [s for s in ours if s["attributes"].get("baml.cancelled")]
    assert len(cancelled) == 1 and cancelled[0]["attributes"]["baml.partial.length"] > 0
    assert cancelled[0]["attributes"]["gen_ai.response.finish_reasons"] == ["error"]

    def children(name: str) -> list[dict[str, Any]]:
        parents = [s for s in spans if s["name"] == name]
        assert len(parents) == 1, (name, [s["name"] for s in spans])
        return [s for s in spans if s["parent_id"] == parents[0]["context"]["span_id"]]

    assert len(children("baml.map GenerateStory")) == 3
    assert len(children("baml.compare GenerateStory")) == 4
    assert len(children("baml.test")) == 1
    assert len(children("baml.batch GenerateStory")) == 2
    alone = [s for s in ours if s["parent_id"] is None]
    assert len(alone) == 5, "a plain call has no parent (nothing was current)"
    fallback = [s for s in ours if s["attributes"].get("baml.client") == "Fast" and
                [e for e in s["events"] if e["name"] == "baml.attempt"]]
    assert len(fallback) == 1, "the fallback's attempts are events of its one span"
    attempts = [e["attributes"] for e in fallback[0]["events"] if e["name"] == "baml.attempt"]
    assert [a["baml.client"] for a in attempts] == ["Broken", "Fast"]
    assert attempts[0].get("http.response.status_code") != 200 and attempts[1]["http.response.status_code"] == 200
    assert all(s["parent_id"] is None or s["parent_id"] in by_id for s in ours)


def test_a_thinking_call_carries_its_reasoning_tokens_and_thought_and_a_stopped_one_says_so(
        traced: Kernel, phoenix: Phoenix, llm) -> None:
    thinker = CLIENT.replace("Fast", "Thinker").replace('model "local"', 'model "local?think=30&tps=200"')
    traced.ok("%%baml\n" + thinker + STORY.replace("GenerateStory", "Ponder").replace("client Fast", "client Thinker"))
    traced.ok("%baml trace on --content")
    traced.ok("pondered = Ponder('owls')\n"
              "cut = Ponder('bats', stop_when=lambda p: p.body is not None and len(p.body.split()) >= 3)")
    assert "spans sent" in traced.ok("%baml trace flush").text
    spans = wait_until(lambda: (found := _calls(phoenix.spans(), "Ponder")) and len(found) >= 2 and found,
                       timeout=30, what="two Ponder spans in Phoenix")
    by_status = {s["attributes"]["baml.status"]: s for s in spans}
    done = by_status["done"]["attributes"]
    assert done["gen_ai.usage.reasoning.output_tokens"] > 0  # the offline model counts them as the providers do
    assert done["baml.reasoning.length"] > 0 and 0 < done["baml.time_to_first_thought_s"] < 30
    events = [e["name"] for e in by_status["done"]["events"]]
    assert events.index("baml.first_thought") < events.index("gen_ai.first_token"), events
    (message,) = json.loads(done["gen_ai.output.messages"])  # the conventions' parts, the thinking first
    assert [p["type"] for p in message["parts"]] == ["reasoning", "text"] and message["finish_reason"] == "stop"
    assert "stopped" in by_status and by_status["stopped"]["status_code"] != "ERROR"


def test_off_imports_nothing(llm, tmp_path: Path, kernel_factory) -> None:
    kernel = kernel_factory(tmp_path)
    kernel.ok("%load_ext baml_magic\n%config BamlMagic.display = 'none'")
    kernel.ok("%%baml\n" + CLIENT + STORY)
    kernel.ok("GenerateStory('owls')")
    out = kernel.ok("import sys\nprint(any(m.startswith('opentelemetry') for m in sys.modules))").printed
    assert out.strip().splitlines()[-1] == "False", "tracing off never imports OpenTelemetry"
    assert "tracing             off" in kernel.ok("%baml trace").text
