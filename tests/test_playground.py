"""Fn.start with its Stop button, and the playground widget: clicks, tabs, history, staleness."""

from __future__ import annotations

import json
import time

import pytest

from baml_magic.notebook._playground import Playground
from baml_magic.testing import wait_until
from tests.conftest import CLIENT, STORY, baml_cell

SLOW = CLIENT.replace("Fast", "Slow").replace('model "local"', 'model "local?tps=20&words=30"')
KINDS = """
enum Tone {
  WARM
  COLD
}
class Setting {
  place string
  year int
}
function Compose(topic: string, words: int, tone: Tone, setting: Setting, draft: bool, note: string?) -> Story {
  client Fast
  prompt #"{{ topic }} {{ words }} {{ tone }} {{ setting.place }} {{ draft }} {{ note }} {{ ctx.output_format }}"#
}
function SlowStory(prompt: string) -> Story {
  client Slow
  prompt #"Write a long story about {{ prompt }}. {{ ctx.output_format }}"#
}
"""


@pytest.fixture
def ns(shell):
    shell.run_line_magic("config", "BamlMagic.display = 'widget'")
    shell.run_cell("%%baml\n" + CLIENT + SLOW + STORY + KINDS, cell_id="defs")
    return shell.user_ns


def _closed(llm) -> dict:
    record = wait_until(lambda: (r := llm.requests()[-1])["outcome"] != "running" and r, what="the request to end")
    assert record["outcome"] == "client_closed" and record["tokens_sent"] < record["tokens_planned"]
    return record


def test_start_runs_in_the_background_and_cancel_closes_the_connection(ns, llm) -> None:
    llm.reset()
    started = time.monotonic()
    handle = ns["SlowStory"].start("bees")
    assert time.monotonic() - started < 0.5, "start returns at once"
    assert not handle.done
    wait_until(lambda: handle.partial is not None, what="a partial")
    stopped_at = time.time()
    handle.view.stop_button.click()
    record = _closed(llm)
    assert record["ended"] - stopped_at < 0.5
    assert handle.status == "cancelled" and handle.done and handle.partial is not None
    handle.wait_view()
    assert 'data-status="cancelled"' in handle.view.fields.status.value, "the view says cancelled"
    story = ns["GenerateStory"].start("ants").result(timeout=10)
    assert story.title


def test_playground_has_one_input_per_parameter_of_the_right_kind(ns) -> None:
    pg = ns["Compose"].playground()
    kinds = {f.name: type(f.widget).__name__ for f in pg.fields}
    assert kinds == {"topic": "Textarea", "words": "IntText", "tone": "Dropdown", "setting": "Textarea",
                     "draft": "Checkbox", "note": "Textarea"}
    assert all(f.widget.description == f.name for f in pg.fields)
    assert pg.fields[2].widget.options == ("WARM", "COLD")
    assert pg.client.options == ("Fast", "Slow") and pg.client.value == "Fast"
    assert "application/vnd.jupyter.widget-view+json" in pg._repr_mimebundle_()


def test_playground_run_fills_tabs_and_history(ns, llm) -> None:
    pg = ns["Compose"].playground()
    values = {"topic": "tides", "words": 40, "tone": "COLD", "setting": json.dumps({"place": "Oslo", "year": 1900}),
              "draft": True, "note": ""}
    for f in pg.fields:
        f.widget.value = values[f.name]
    pg.run_button.click()
    pg.wait()
    assert pg.message.value == ""
    assert 'data-status="done"' in pg.live.status.value
    assert "tides 40 COLD Oslo true null" in pg.panes["Prompt"].value
    assert pg.panes["Request"].value.startswith("<pre") and "curl -X POST" in pg.panes["Request"].value
    assert pg.panes["Raw response"].value.count("&quot;title&quot;") == 1
    assert "tokens out: " in pg.panes["Usage"].value
    pg.client.value = "Slow"
    pg.run_button.click()
    wait_until(lambda: (llm.requests()[-1]["tokens_sent"] > 0 and llm.requests()[-1]["outcome"] == "running"),
               what="the second run to stream")
    pg.stop_button.click()
    pg.wait()
    _closed(llm)
    assert [h["status"] for h in pg.history] == ["done", "cancelled"]
    assert [h["client"] for h in pg.history] == ["Fast", "Slow"]
    assert pg.history_view.value.count("<tr>") == 3, "header and two runs side by side"


def test_bad_input_and_provider_errors_stay_in_the_widget(ns, llm, shell) -> None:
    pg = ns["Compose"].playground()
    pg.fields[0].widget.value = "x"
    pg.fields[3].widget.value = "{not json"
    llm.reset()
    pg.run_button.click()
    assert "setting: not valid JSON" in pg.message.value
    pg.fields[3].widget.value = json.dumps({"place": "Rome"})
    pg.run_button.click()
    assert "setting" in pg.message.value and "year" in pg.message.value
    assert llm.requests() == [], "bad input sends nothing"
    broken = CLIENT.replace("Fast", "Broken").replace('model "local"', 'model "local?fault=http_500"')
    baml_cell(shell, broken)
    pg.client.options = (*pg.client.options, "Broken")
    pg.client.value = "Broken"
    pg.fields[3].widget.value = json.dumps({"place": "Rome", "year": 1})
    pg.run_button.click()
    pg.wait()
    assert 'data-status="error"' in pg.live.status.value and "500" in pg.live.status.value
    assert not pg.run_button.disabled, "the widget stays usable"


def test_rerun_cell_takes_effect_or_says_stale(ns, shell) -> None:
    pg = ns["GenerateStory"].playground()
    pg.fields[0].widget.value = "owls"
    shell.run_cell("%%baml\n" + CLIENT + SLOW + STORY.replace("Write a short story", "Write a POEM") + KINDS,
                   cell_id="defs")
    pg.run_button.click()
    pg.wait()
    assert "Write a POEM about owls" in pg.panes["Prompt"].value
    shell.run_cell("%%baml\n" + CLIENT + SLOW + STORY.replace("prompt: string", "prompt: string, n: int")
                   + KINDS, cell_id="defs")
    pg.run_button.click()
    assert "stale" in pg.message.value
    shell.run_line_magic("baml", "list")
    assert isinstance(shell.run_line_magic("baml", "playground GenerateStory"), Playground)
