"""Real servers nobody here wrote: llama.cpp's C++ ``llama-server`` (and llama-cpp-python's server, below), serving
SmolLM2-135M-Instruct, driven from a real kernel as a notebook user drives them.

What only a real server shows: it notices a closed connection only when it writes to it (so an interrupt must close
a stream, in every calling style), its slots and queue, its own errors, its usage. Whether it still generates is
read from the server itself (``/slots``), never from our side. The wire shapes are the server's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from baml_magic.testing import wait_until
from tests import _llama
from tests.conftest import Kernel
from tests.test_kernel import _widget_ids

STOPPED_WITHIN = 1.0  # seconds from the interrupt to an idle server (benchmarks/real_server.py measures it in ms)

PROJECT = """
client<llm> Llama {
  provider "openai-generic"
  options {
    base_url env.LLAMA_BASE_URL
    model "smollm2"
    max_tokens 1800
    ignore_eos true  // llama-server's own option: the answer runs to max_tokens, so a stopped one is plain to see
    stream_options {
      include_usage true
    }
  }
}
client<llm> Llama2 {
  provider "openai-generic"
  options {
    base_url env.LLAMA_BASE_URL
    model "smollm2-again"
    max_tokens 1800
    ignore_eos true
  }
}
client<llm> Short {
  provider "openai-generic"
  options {
    base_url env.LLAMA_BASE_URL
    model "smollm2"
    max_tokens 48
    temperature 0.0
    stream_options {
      include_usage true
    }
  }
}
function Essay(topic: string) -> string {
  client Llama
  prompt #"Write a very long essay about {{ topic }}."#
}
function Greet(name: string) -> string {
  client Short
  prompt #"Say hello to {{ name }} in one short sentence."#
}
test EssayOnRivers {
  functions [Essay]
  args {
    topic "rivers"
  }
}
"""


def _need(kind: str) -> None:
    why = _llama.find(kind)
    if why is not None:
        pytest.skip(f"no {kind} llama server: {why}")


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_llama.Server]:
    _need("cpp")
    server = _llama.Server("cpp", slots=2, context=4096, log=tmp_path_factory.mktemp("llama") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lk(llama: _llama.Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """A real kernel whose project calls the real server."""
    os.environ["LLAMA_BASE_URL"] = llama.base_url
    kernel = Kernel(tmp_path_factory.mktemp("llama_kernel"))
    kernel.ok("%load_ext baml_magic")
    kernel.ok("%%baml\n" + PROJECT)
    yield kernel
    kernel.shutdown()


def _interrupt_when_busy(kernel: Kernel, server: _llama.Server, code: str, slots: int = 1) -> tuple[float, object]:
    """Run ``code``, interrupt the kernel once the server says ``slots`` slots generate, and return how long the
    server took to be idle after the interrupt, with the cell's execution."""
    msg_id, execution = kernel.start(code)
    wait_until(lambda: server.busy() >= slots, timeout=60, what=f"{slots} busy slot(s)")
    at = kernel.interrupt()
    stopped = server.idle_after(at)
    kernel.collect(msg_id, execution, timeout=30)
    return stopped, execution


STYLES = {
    "call": ("Essay('rivers')", "KeyboardInterrupt"),
    "one piece": ("Essay.with_options(stream=False)('rivers')", "KeyboardInterrupt"),
    "stream": ("for p in Essay.stream('rivers'):\n    pass", "KeyboardInterrupt"),
    "aio": ("await Essay.aio('rivers')", "CancelledError"),
}


@pytest.mark.parametrize("style", list(STYLES))
def test_an_interrupt_stops_the_generation(lk: Kernel, llama: _llama.Server, style: str) -> None:
    code, ename = STYLES[style]
    stopped, execution = _interrupt_when_busy(lk, llama, code)
    assert stopped < STOPPED_WITHIN, f"{style}: the server generated {stopped:.2f} s after the interrupt"
    assert execution.status == "error" and execution.reply["content"]["ename"] == ename
    assert lk.ok("print(Essay.last.status)").printed.split()[-1] == "cancelled"


@pytest.mark.parametrize("streamed", [False, True])
def test_an_interrupted_map_stops_every_request(lk: Kernel, llama: _llama.Server, streamed: bool) -> None:
    option = ", idle_timeout=120" if streamed else ""
    stopped, execution = _interrupt_when_busy(lk, llama, f"Essay.map(['a', 'b', 'c'], concurrency=2{option})",
                                              slots=2)
    assert stopped < STOPPED_WITHIN, f"the server generated {stopped:.2f} s after the interrupt"
    assert execution.status == "error"
    done, cancelled = lk.ok("print(Essay.last_map.count('done'), Essay.last_map.count('cancelled'))").printed.split()
    assert done == "0" and int(cancelled) >= 2, (done, cancelled)


def test_a_background_run_stops_when_cancelled(lk: Kernel, llama: _llama.Server) -> None:
    lk.ok("h = Essay.start('rivers')")
    wait_until(lambda: llama.busy() >= 1, timeout=60, what="a busy slot")
    at = time.time()
    lk.ok("h.cancel()")
    assert llama.idle_after(at) < STOPPED_WITHIN
    assert lk.ok("print(h.run.status)").printed.split()[-1] == "cancelled"


def test_compare_and_the_test_grid_stop_on_an_interrupt(lk: Kernel, llama: _llama.Server) -> None:
    stopped, execution = _interrupt_when_busy(lk, llama, "Essay.compare(['rivers'], clients=['Llama', 'Llama2'])",
                                              slots=2)
    assert stopped < STOPPED_WITHIN and execution.status == "error"
    stopped, execution = _interrupt_when_busy(lk, llama, "%baml test EssayOnRivers --repeat 2")
    assert stopped < STOPPED_WITHIN and execution.status == "error"


def test_the_playground_s_stop_button_stops_the_generation(lk: Kernel, llama: _llama.Server) -> None:
    ids = _widget_ids(lk.ok("Essay.playground()"))
    lk.send_comm(ids["baml-magic-field-topic"], {"method": "update", "state": {"value": "herons"},
                                                 "buffer_paths": []})
    lk.send_comm(ids["baml-magic-run"], {"method": "custom", "content": {"event": "click"}})
    wait_until(lambda: llama.busy() >= 1, timeout=60, what="a busy slot")
    at = time.time()
    lk.send_comm(ids["baml-magic-stop"], {"method": "custom", "content": {"event": "click"}})
    assert llama.idle_after(at) < STOPPED_WITHIN


def test_three_concurrent_calls_each_answer_whole(lk: Kernel, llama: _llama.Server) -> None:
    # Two slots, three calls: the third waits in the server's queue, then answers.
    shown = lk.ok("import asyncio, json\nnames = ['Ada', 'Bob', 'Cy']\n"
                  "got = await asyncio.gather(*(Greet.aio(n) for n in names), return_exceptions=True)\n"
                  "print(json.dumps([[type(g).__name__, len(g) if isinstance(g, str) else 0] for g in got]))",
                  timeout=120).printed.strip().splitlines()[-1]
    for kind, size in json.loads(shown):
        assert kind == "str" and size > 0, shown


def test_usage_is_the_server_s_own_count(lk: Kernel, llama: _llama.Server) -> None:
    shown = lk.ok("import json; g = Greet('Ada'); u = Greet.last.usage\n"
                  "print(json.dumps([u.input_tokens, u.output_tokens, u.estimated]))").printed.strip()
    before = llama.predicted()
    inputs, outputs, estimated = json.loads(shown.splitlines()[-1])
    assert not estimated and inputs > 0 and 0 < outputs <= 48
    lk.ok("Greet('Bob')")
    assert llama.predicted() - before == json.loads(lk.ok("print(Greet.last.usage.output_tokens)").printed)


def test_an_over_long_prompt_shows_the_server_s_error(lk: Kernel) -> None:
    failed = lk.run("Greet('word ' * 5000)")
    assert failed.status == "error"
    line = "\n".join(failed.of_type("error")[0]["content"]["traceback"])
    assert "exceed_context_size_error" in line and "exceeds the available context size" in line, line
    assert line.count("\n") == 0 and "HTTP 400" in line and "Traceback" not in line, line


PROVIDERS = {  # each with its own provider's name for the answer's length limit
    "openai": 'base_url env.LLAMA_BASE_URL\n    api_key "sk-not-checked"\n    max_completion_tokens 32',
    "openai-generic": "base_url env.LLAMA_BASE_URL\n    max_tokens 32",
    "ollama": "base_url env.LLAMA_BASE_URL\n    max_tokens 32",
    "anthropic": 'base_url env.LLAMA_ROOT\n    api_key "not-checked"\n    max_tokens 32',
    "openai-responses": 'base_url env.LLAMA_BASE_URL\n    api_key "sk-not-checked"\n    max_output_tokens 32',
}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_each_provider_that_takes_a_base_url_works_or_says_why(lk: Kernel, llama: _llama.Server,
                                                               provider: str) -> None:
    name = "Via" + provider.title().replace("-", "")
    lk.ok(f"import os; os.environ['LLAMA_ROOT'] = {llama.url!r}")
    lk.ok(f'%%baml\nclient<llm> {name} {{\n  provider "{provider}"\n  options {{\n    {PROVIDERS[provider]}\n'
          f'    model "smollm2"\n  }}\n}}\nfunction Hello{name}(who: string) -> string {{\n  client {name}\n'
          f'  prompt #"Say hello to {{{{ who }}}}."#\n}}\n')
    fn = f"Hello{name}.with_options(allow_incomplete=True"  # a small model may run to max_tokens: still a reading
    for call in (f"{fn})('Ada')", f"{fn}, stream=False)('Ada')"):
        result = lk.run(f"print(repr({call}))")
        if provider == "openai-responses":  # llama-server's events lack OpenAI's sequence_number
            line = "\n".join(result.of_type("error")[0]["content"]["traceback"])
            assert "sequence_number" in line and "openai-generic" in line and "\n" not in line, line
            assert "BamlClientHttpError(" not in line and "status_code" not in line
        else:
            assert result.status == "ok" and len(result.printed.strip()) > 2, result.text


def test_as_curl_runs_as_printed_against_a_keyed_server(tmp_path, monkeypatch) -> None:
    _need("cpp")
    key = "llama-key-0123456789abcdef"
    server = _llama.Server("cpp", slots=1, context=1024, api_key=key)
    try:
        monkeypatch.setenv("LLAMA_KEY", key)
        monkeypatch.setenv("LLAMA_BASE_URL", server.base_url)
        kernel = Kernel(tmp_path)
        try:
            kernel.ok("%load_ext baml_magic")
            kernel.ok('%%baml\nclient<llm> Keyed {\n  provider "openai-generic"\n  options {\n'
                      '    base_url env.LLAMA_BASE_URL\n    api_key env.LLAMA_KEY\n    model "smollm2"\n'
                      '    max_tokens 8\n  }\n}\nfunction Hi(x: string) -> string {\n  client Keyed\n'
                      '  prompt #"Say {{ x }}"#\n}\n')
            curl = kernel.ok("print(Hi.request('hi').as_curl())").printed.strip()
            assert key not in curl and "${LLAMA_KEY}" in curl, curl
        finally:
            kernel.shutdown()
        ran = subprocess.run(["bash", "-c", curl + " -s -N -w '\\nHTTP %{http_code}'"], capture_output=True,
                             text=True, timeout=60, env={**os.environ, "LLAMA_KEY": key})
        assert ran.stdout.rstrip().endswith("HTTP 200"), ran.stdout[-300:]
        assert "data:" in ran.stdout, "a streamed answer"
    finally:
        server.stop()


# -- llama-cpp-python's server: a stream it preempts ends early, it counts nothing in streams ----------------------

@pytest.fixture(scope="module")
def pk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """A real kernel whose project calls llama-cpp-python's server (one model, requests interrupt each other)."""
    _need("python")
    server = _llama.Server("python", context=1024, log=tmp_path_factory.mktemp("lcp") / "server.log")
    os.environ["LCP_BASE_URL"] = server.base_url
    kernel = Kernel(tmp_path_factory.mktemp("lcp_kernel"))
    try:
        kernel.ok("%load_ext baml_magic")
        kernel.ok("%%baml\n" + PROJECT.replace("LLAMA_BASE_URL", "LCP_BASE_URL").replace("max_tokens 48",
                                                                                           "max_tokens 64"))
        yield kernel
    finally:
        kernel.shutdown()
        server.stop()


def test_a_stream_the_server_cut_short_is_never_an_empty_success(pk: Kernel) -> None:
    # llama-cpp-python ends a running stream when another request comes (role chunk, [DONE], no finish_reason).
    shown = pk.ok("import asyncio, json\n"
                  "got = await asyncio.gather(*(Greet.aio(n) for n in ['Ada', 'Bob', 'Cy']), return_exceptions=True)\n"
                  "print(json.dumps([g if isinstance(g, str) else 'error: ' + str(g) for g in got]))",
                  timeout=180).printed.strip().splitlines()[-1]
    answers = json.loads(shown)
    for answer in answers:
        assert answer.strip(), f"an empty answer reported as done: {answers}"
        if answer.startswith("error: "):
            assert "stream ended before the model finished" in answer, answer
    assert "error" not in pk.ok("print(Greet('Ada'))").printed, "alone, a call answers whole"


def test_usage_the_server_did_not_send_is_estimated_and_said_so(pk: Kernel) -> None:
    hint = pk.ok("Greet('Ada'); print(Greet.last.usage.estimated, Greet.last.facts.hint)").printed.strip()
    assert hint.startswith("True ") and "although the request asked" in hint, hint


def test_an_over_long_prompt_s_empty_stream_is_one_line(pk: Kernel) -> None:
    failed = pk.run("Greet('word ' * 3000)")
    line = "\n".join(failed.of_type("error")[0]["content"]["traceback"])
    assert failed.status == "error" and "empty stream" in line and "\n" not in line, line
    assert "status_code" not in line and "HTTP" not in line, line


def test_the_server_s_own_error_for_content_parts_is_one_line(pk: Kernel) -> None:
    # The `openai` provider sends content parts; llama-cpp-python's chat template takes only strings (HTTP 500).
    pk.ok('%%baml\nclient<llm> Parts {\n  provider "openai"\n  options {\n    base_url env.LCP_BASE_URL\n'
          '    api_key "sk-not-checked-0123"\n    model "smollm2"\n    max_tokens 16\n  }\n}\n'
          'function Parted(x: string) -> string {\n  client Parts\n  prompt #"Say hi to {{ x }}"#\n}\n')
    failed = pk.run("Parted('Ada')")
    line = "\n".join(failed.of_type("error")[0]["content"]["traceback"])
    assert "HTTP 500" in line and "validation errors" in line and "more lines of it" in line, line
    assert "\n" not in line and "sk-not-checked" not in line, line
