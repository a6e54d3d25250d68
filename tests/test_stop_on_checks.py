"""``stop_when="checks"`` (issue #47): a call ends where a ``@check`` fails on a field the model has finished,
with ``ChecksFailed`` and the partial kept; a check that fails only while its field is still growing does not
stop it. The checks' results are BAML's own (baml-py runs them on every partial); the completeness rule is ours."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from baml_magic import ChecksFailed, local_llm, testing
from baml_magic.calls._stop_checks import failed_check
from baml_magic.testing import wait_until
from tests.conftest import CLIENT, baml_cell

# 300 words at 200 tokens/s: about three seconds if nothing stops it; the summary is about half of it.
SLOW = CLIENT.replace("Fast", "Slow").replace('model "local"', 'model "local?tps=200&words=300"')
QUICK = CLIENT.replace("Fast", "Quick").replace('model "local"', 'model "local?tps=400&words=150"')


def report(client: str, summary_check: str, details_check: str = "") -> str:
    return f"""
class Report {{
  title string
  summary string {summary_check}
  details string {details_check}
}}
function Write{client}(topic: string) -> Report {{
  client {client}
  prompt #"Write a report about {{{{ topic }}}}. {{{{ ctx.output_format }}}}"#
}}
"""


def _outcome(llm: local_llm.LocalLLM) -> dict[str, Any]:
    wait_until(lambda: llm.requests()[-1]["outcome"] != "running", what="the server to see the request end")
    return llm.requests()[-1]


@pytest.mark.slow  # two streamed calls of a long answer (measured: about 3.5 s)
def test_a_check_failing_on_a_finished_field_closes_the_request_there_and_keeps_the_partial(
        shell: testing.TestingShell, llm: local_llm.LocalLLM) -> None:
    baml_cell(shell, SLOW + report("Slow", "@check(brief, {{ this|length < 40 }})"))
    write = shell.user_ns["WriteSlow"]
    with pytest.raises(ChecksFailed) as raised:
        write("owls", stop_when="checks")
    assert str(raised.value).startswith("WriteSlow: @check brief failed on summary (this|length < 40)")
    request = _outcome(llm)
    assert request["outcome"] == "client_closed"
    assert request["tokens_sent"] < 0.75 * request["tokens_planned"], (request["tokens_sent"],
                                                                       request["tokens_planned"])
    kept = write.last.partial
    assert write.last.status == "error" and raised.value.value is kept
    assert kept.summary.checks["brief"].status == "failed" and len(kept.summary.value) > 40
    assert not kept.details or len(kept.details) < len(kept.summary.value)  # the tail was never paid for

    with write.with_options(stop_when="checks").stream("owls") as stream, pytest.raises(ChecksFailed):
        list(stream)
    assert _outcome(llm)["outcome"] == "client_closed"


@pytest.mark.slow  # three streamed calls (measured: about 2 s)
def test_a_check_failing_only_while_its_field_grows_does_not_stop_and_a_last_field_fails_at_the_end(
        shell: testing.TestingShell, llm: local_llm.LocalLLM) -> None:
    # A long summary fails "length > 300" on its first partials (BAML checks them as they grow): no stop.
    baml_cell(shell, QUICK + report("Quick", "@check(long, {{ this|length > 300 }})"))
    write = shell.user_ns["WriteQuick"]
    seen: list[str] = []
    value = write.with_options(stop_when="checks").stream("owls")
    for partial in value:
        if partial.summary is not None:
            seen.append(partial.summary.checks["long"].status)
    assert "failed" in seen and seen[-1] == "succeeded"  # it did fail while growing
    assert write.last.status == "done" and value.final.summary.checks["long"].status == "succeeded"
    assert _outcome(llm)["outcome"] == "completed"

    # The last field's check can only fail once the answer is whole: the same error, at the end.
    baml_cell(shell, QUICK + report("Quick", "", "@check(terse, {{ this|length < 10 }})"))
    with pytest.raises(ChecksFailed) as raised:
        shell.user_ns["WriteQuick"]("owls", stop_when="checks")
    assert "@check terse failed on details" in str(raised.value)
    assert _outcome(llm)["outcome"] == "completed"
    # Without stop_when a failed check is BAML's usual value, not an error.
    assert shell.user_ns["WriteQuick"]("owls").details.checks["terse"].status == "failed"


class Check(BaseModel):
    name: str
    expression: str
    status: str


class Checked(BaseModel):
    """The shape of BAML's generated ``Checked[T, ...]``: its value and its named checks."""

    value: Any
    checks: dict[str, Check]


class Item(BaseModel):
    name: Any = None
    size: Any = None


class Order(BaseModel):
    items: list[Item] = []
    note: Any = None


def _checked(value: Any, status: str) -> Checked:
    return Checked(value=value, checks={"ok": Check(name="ok", expression="this|length > 2", status=status)})


def test_a_field_counts_as_finished_once_a_later_sibling_or_item_has_begun() -> None:
    growing = Order(items=[Item(name=_checked("a", "failed"))])
    assert failed_check(growing, whole=False) is None  # the only thing written so far: still growing
    assert failed_check(growing, whole=True) == "@check ok failed on items[0].name (this|length > 2)"
    moved_on = Order(items=[Item(name=_checked("a", "failed"), size=3)])
    assert failed_check(moved_on, whole=False) == "@check ok failed on items[0].name (this|length > 2)"
    next_item = Order(items=[Item(name=_checked("abc", "succeeded")), Item(name=_checked("b", "failed"))])
    assert failed_check(next_item, whole=False) is None
    next_item.items.append(Item())  # BAML shows an item once its object is opened: the one before is closed
    assert failed_check(next_item, whole=False) == "@check ok failed on items[1].name (this|length > 2)"
    assert failed_check(Order(items=[], note=_checked("x", "failed")), whole=False) is None


def test_stop_when_takes_checks_or_a_function_and_nothing_else(shell: testing.TestingShell,
                                                               llm: local_llm.LocalLLM) -> None:
    baml_cell(shell, QUICK + report("Quick", "@check(long, {{ this|length > 300 }})"))
    write = shell.user_ns["WriteQuick"]
    before = len(llm.requests())
    assert write.with_options(stop_when="checks").options.stop_when == "checks"
    with pytest.raises(ValueError, match="stop_when takes a function of the partial or 'checks', got 'check'"):
        write("owls", stop_when="check")
    assert len(llm.requests()) == before


def test_a_call_stopped_by_its_checks_in_a_notebook_is_one_line_and_keeps_the_partial(
        kernel: testing.Kernel, llm: local_llm.LocalLLM) -> None:
    kernel.ok("%%baml\n" + SLOW + report("Slow", "@check(brief, {{ this|length < 40 }})"))
    execution = kernel.run("WriteSlow('owls', stop_when='checks')")
    errors = execution.of_type("error")
    assert execution.status == "error" and len(errors) == 1
    assert errors[0]["content"]["ename"] == "ChecksFailed"
    shown = "\n".join(errors[0]["content"]["traceback"])
    assert "@check brief failed on summary" in shown and "Traceback" not in shown and "panicked" not in shown
    printed = kernel.ok("print(WriteSlow.last.status, WriteSlow.last.partial.summary.checks['brief'].status)")
    assert printed.printed.split() == ["error", "failed"]
    assert _outcome(llm)["outcome"] == "client_closed"


@pytest.mark.slow  # two streamed runs in the widget (measured: about 3 s)
def test_the_playground_stops_on_checks_when_asked_and_on_a_predicate(shell: testing.TestingShell,
                                                                      llm: local_llm.LocalLLM) -> None:
    shell.run_line_magic("config", "BamlMagic.display = 'widget'")
    baml_cell(shell, SLOW + report("Slow", "@check(brief, {{ this|length < 40 }})"))
    playground = shell.run_line_magic("baml", "playground WriteSlow --stop-when checks")
    assert playground.stop_on_checks.value is True
    playground.fields[0].widget.value = "owls"
    playground.run_button.click()
    playground.wait()
    assert _outcome(llm)["outcome"] == "client_closed"
    assert playground.history[-1]["status"] == "error"
    assert "@check brief failed on summary" in playground.history[-1]["error"]

    titled = shell.user_ns["WriteSlow"].playground(stop_when=lambda p: p.summary is not None)
    assert titled.stop_on_checks.value is False
    titled.fields[0].widget.value = "owls"
    titled.run_button.click()
    titled.wait()
    assert titled.history[-1]["status"] == "stopped" and 'data-status="stopped"' in titled.live.status.value
    assert _outcome(llm)["outcome"] == "client_closed"
