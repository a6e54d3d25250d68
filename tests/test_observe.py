"""Prompt and request displays, usage, client switching, BAML test blocks, event hooks, secrets."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

import baml_magic.events
from baml_magic import Usage, local_llm
from baml_magic._errors import MissingEnvVarError
from baml_magic.notebook._clients import UnknownClientError
from baml_magic.testing import wait_until
from tests.conftest import CLIENT, STORY, baml_cell

SECRET = "sk-test-0123456789abcdefSECRET"

KEYED = """
client<llm> Keyed {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local"
    api_key env.BAML_MAGIC_TEST_API_KEY
  }
}
function KeyedStory(prompt: string) -> Story {
  client Keyed
  prompt #"{{ _.role("system") }}You are a storyteller.{{ _.role("user") }}A story about {{ prompt }}.
{{ ctx.output_format }}"#
}
"""


def test_prompt_shows_the_template_filled_with_arguments_and_schema(shell, llm) -> None:
    baml_cell(shell, CLIENT + STORY)
    llm.reset()
    prompt = shell.user_ns["GenerateStory"].prompt("a red balloon")
    assert [m.role for m in prompt.messages] == ["system"]
    text = prompt.messages[0].content
    assert "Write a short story about a red balloon." in text
    assert "title: string" in text and "body: string" in text, "the output-format schema is rendered"
    assert "<pre" in prompt._repr_html_() and 'data-role="system"' in prompt._repr_html_()
    assert llm.requests() == [], "no LLM call for a prompt"


def test_request_and_curl_redact_the_key(shell, monkeypatch) -> None:
    monkeypatch.setenv("BAML_MAGIC_TEST_API_KEY", SECRET)
    baml_cell(shell, CLIENT + STORY + KEYED)
    fn = shell.user_ns["KeyedStory"]
    prompt = fn.prompt("owls")
    assert [m.role for m in prompt.messages] == ["system", "user"]
    request = fn.request("owls")
    assert request.method == "POST" and request.url.endswith("/chat/completions")
    assert request.headers["authorization"] == "[redacted]"
    assert request.body["stream"] is True and request.body["messages"][1]["role"] == "user"
    curl = request.as_curl()
    assert curl.startswith("curl -X POST") and "${BAML_MAGIC_TEST_API_KEY}" in curl, curl
    for shown in (repr(request), curl, request._repr_html_(), repr(prompt)):
        assert SECRET not in shown
    assert fn("owls").title, "the key really reaches the server"


def test_last_and_usage_match_what_the_server_reported(shell, llm) -> None:
    baml_cell(shell, CLIENT + STORY)
    fn = shell.user_ns["GenerateStory"]
    llm.reset()
    fn("one")
    fn("two")
    records = llm.requests()
    last = fn.last
    assert last.status == "done" and last.value.title and last.raw_response.startswith("{")
    assert last.usage == Usage(records[-1]["prompt_tokens"], records[-1]["tokens_sent"])
    assert last.client == "Fast" and last.client_name == "Fast" and last.provider == "openai-generic"
    assert 0 < last.timing.time_to_first_token <= last.timing.duration
    table = shell.run_line_magic("baml", "usage")
    row = next(r for r in table.rows if r[0] == "GenerateStory")
    assert row[1] == "2" and row[2] == "0"
    assert row[4] == str(sum(r["prompt_tokens"] for r in records))
    assert row[5] == str(sum(r["tokens_sent"] for r in records))
    assert row[6] == "" and "ms" in row[7] and "ms" in row[9], "no price for the offline model: no cost"
    assert "<table" in table._repr_html_()


@pytest.mark.slow
def test_switching_clients_sends_the_next_call_elsewhere(shell, llm) -> None:
    other = local_llm.start(tps=200, words=5)
    try:
        os.environ["OTHER_LLM_BASE_URL"] = other.base_url
        other_client = CLIENT.replace("Fast", "Other").replace("LOCAL_LLM_BASE_URL", "OTHER_LLM_BASE_URL")
        baml_cell(shell, CLIENT + other_client + STORY)
        fn = shell.user_ns["GenerateStory"]
        assert "its own client" in shell.run_line_magic("baml", "client")
        assert shell.run_line_magic("baml", "client Other") == "every call uses client Other"
        fn("x")
        assert len(other.requests()) == 1 and fn.last.client_name == "Other"
        clients_table = shell.run_line_magic("baml", "clients")
        assert ["Other", "openai-generic", "local", "OTHER_LLM_BASE_URL", "every call"] in clients_table.rows
        shell.run_line_magic("baml", "client --reset")
        before = len(llm.requests())
        fn("y")
        assert len(other.requests()) == 1 and len(llm.requests()) == before + 1
        fn.with_options(client="Other")("z")
        assert len(other.requests()) == 2
        with pytest.raises(UnknownClientError, match="clients: Fast, Other"):
            shell.run_line_magic("baml", "client Nope")
    finally:
        other.stop()
        os.environ.pop("OTHER_LLM_BASE_URL", None)


def test_shorthand_client_needs_its_key_before_any_request(shell, monkeypatch, llm) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    baml_cell(shell, CLIENT + STORY)
    shell.run_line_magic("baml", "client openai/gpt-4o-mini")
    llm.reset()
    with pytest.raises(MissingEnvVarError, match="OPENAI_API_KEY"):
        shell.user_ns["GenerateStory"]("x")
    assert llm.requests() == []
    shell.run_line_magic("baml", "client --reset")


@pytest.mark.slow
def test_baml_test_blocks_report_pass_and_fail_with_reason(shell) -> None:
    baml_cell(shell, CLIENT + STORY + """
test HasTitle {
  functions [GenerateStory]
  args {
    prompt "x"
  }
  @@assert(has_title, {{ this.title|length > 0 }})
}
test TinyBody {
  functions [GenerateStory]
  args {
    prompt "y"
  }
  @@assert(tiny_body, {{ this.body|length < 3 }})
}
""")
    table = shell.run_line_magic("baml", "test GenerateStory --cli")
    rows = {r[0]: r for r in table.rows}
    assert rows["HasTitle"][2] == "pass"
    assert rows["TinyBody"][2] == "failed" and "tiny_body" in rows["TinyBody"][3]
    assert all(r[1] == "GenerateStory" and r[4].endswith(" s") for r in table.rows)
    grid = shell.run_line_magic("baml", "test GenerateStory")
    verdicts = {(o.row, o.verdict, o.reason) for o in grid.outcomes}
    assert verdicts == {("GenerateStory::HasTitle", "pass", ""), ("GenerateStory::TinyBody", "fail", "tiny_body")}


def test_event_hooks_see_start_partials_and_finish(shell) -> None:
    baml_cell(shell, CLIENT + STORY)
    seen = []
    hook = baml_magic.events.register(lambda e: seen.append((e.kind, e.function, e.usage.output_tokens)))
    try:
        shell.user_ns["GenerateStory"]("events")
    finally:
        baml_magic.events.unregister(hook)
    kinds = [k for k, _, _ in seen]
    assert kinds[0] == "start" and kinds[-1] == "finish" and "partial" in kinds
    assert seen[-1][2] and seen[-1][2] > 0, "finish carries usage"


def test_saved_notebook_never_holds_the_key(llm, tmp_path, run_notebook) -> None:
    cells = [
        "%load_ext baml_magic",
        "%%baml\n" + CLIENT + STORY + KEYED,
        "KeyedStory('secrets')",
        "KeyedStory.request('secrets')",
        "print(KeyedStory.request('secrets').as_curl())",
        "KeyedStory.prompt('secrets')",
        "KeyedStory.last",
        "%baml usage",
        "%baml clients",
        "%%baml\nclient<llm> Broken {\n  provider \"openai-generic\"\n  options {\n"
        "    base_url env.LOCAL_LLM_BASE_URL\n    model \"local?fault=http_500\"\n"
        "    api_key env.BAML_MAGIC_TEST_API_KEY\n  }\n}\n"
        "function Fails(p: string) -> string {\n  client Broken\n  prompt #\"{{ p }}\"#\n}",
        "Fails('x')",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env_before = os.environ.get("BAML_MAGIC_TEST_API_KEY")
    os.environ["BAML_MAGIC_TEST_API_KEY"] = SECRET
    try:
        run_notebook(nb, tmp_path, allow_errors=True)
    finally:
        if env_before is None:
            os.environ.pop("BAML_MAGIC_TEST_API_KEY")
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text()
    outputs = json.dumps([c.outputs for c in nb.cells])
    assert "[redacted]" in outputs and "authorization" in outputs.lower()
    assert "BamlClientHttpError" in outputs, "the failing call shows its error"
    assert SECRET not in text


def test_errors_never_carry_a_secret(shell, monkeypatch) -> None:
    from baml_py.errors import BamlValidationError

    monkeypatch.setenv("BAML_MAGIC_TEST_API_KEY", SECRET)
    baml_cell(shell, CLIENT + STORY + KEYED.replace('model "local"', 'model "local?fault=unparsable"'))
    with pytest.raises(BamlValidationError) as info:
        shell.user_ns["KeyedStory"](f"leak {SECRET} please")  # the prompt itself carries the secret
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in shell.user_ns["KeyedStory"].last.error_message
    assert SECRET not in "".join(info.value._render_traceback_())


@pytest.mark.slow
def test_baml_tests_stop_on_interrupt_and_close_their_requests(shell, llm) -> None:
    import signal
    import threading
    import time

    slow = CLIENT.replace("Fast", "SlowTests").replace('model "local"', 'model "local?tps=10&words=60"')
    baml_cell(shell, slow + STORY.replace("client Fast", "client SlowTests") + """
test Long {
  functions [GenerateStory]
  args {
    prompt "x"
  }
}
""")
    llm.reset()
    # A real SIGINT, as Jupyter's stop button and Ctrl-C send: it also breaks a blocking read.
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        shell.run_line_magic("baml", "test --cli")
    assert time.monotonic() - started < 4.0, "stopped at the interrupt, not at the end of the test"
    record = wait_until(lambda: (r := llm.requests()[-1])["outcome"] != "running" and r, what="the request to end")
    assert record["outcome"] == "client_closed" and record["tokens_sent"] < record["tokens_planned"]
