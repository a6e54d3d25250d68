"""A real kernel through jupyter_client against local_llm: the path a notebook user takes."""

from __future__ import annotations

import json
import time

import pytest

from baml_magic.testing import wait_until
from tests.conftest import CLIENT, STORY, Execution, Kernel

SLOW = CLIENT.replace("Fast", "Slow").replace('model "local"', 'model "local?tps=20&words=30"')


def _cell(kernel: Kernel, text: str, cell_id: str | None = None) -> Execution:
    return kernel.ok("%%baml\n" + text.strip("\n") + "\n")


def _updates(execution: Execution) -> list[tuple[float, dict]]:
    """Live view updates sent while the cell ran: the output updated in place, or widget values."""
    return [(t, m) for t, m in execution.messages if m["header"]["msg_type"] == "update_display_data"
            or (m["header"]["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update")]


def _final_view(execution: Execution) -> str:
    updates = execution.of_type("update_display_data")
    assert updates, "the live view must end as a static output"
    return updates[-1]["content"]["data"]["text/html"]


@pytest.fixture(scope="module")
def story_kernel(kernel: Kernel) -> Kernel:
    slow_story = STORY.split("function", 1)[1].replace("GenerateStory", "SlowStory").replace("client Fast",
                                                                                             "client Slow")
    _cell(kernel, CLIENT + SLOW + STORY + "function" + slow_story)
    return kernel


def test_new_user_path_compile_call_edit_and_typo(kernel: Kernel) -> None:
    first = kernel.ok("%%baml\n" + CLIENT + STORY)
    assert "GenerateStory(prompt: str) -> Story" in first.text
    result = kernel.ok("s = GenerateStory('dragons'); print(type(s).__name__, bool(s.title), bool(s.body))")
    assert "Story True True" in result.text
    kernel.ok("%%baml\nfunction Sequel(s: Story) -> Story {\n  client Fast\n"
              '  prompt #"Continue {{ s.title }}. {{ ctx.output_format }}"#\n}\n')
    assert "Story True" in kernel.ok("print(type(Sequel(s)).__name__, bool(Sequel(s).title))").text
    broken = "%%baml\n" + CLIENT + STORY.replace("title string", "title strin g")
    line = broken.splitlines().index("  title strin g") + 1
    bad = kernel.run(broken)
    assert bad.status == "error"
    error = bad.of_type("error")[0]["content"]
    shown = "\n".join(error["traceback"])
    assert f"line {line}:" in shown and "title strin g" in shown
    assert "Traceback" not in shown and "Stack backtrace" not in shown
    assert "True" in kernel.ok("print(bool(GenerateStory('still bound').title))").text


def test_view_updates_reach_the_frontend_while_the_cell_runs(story_kernel: Kernel, llm) -> None:
    execution = story_kernel.ok("story = SlowStory('a lighthouse')")
    updates = _updates(execution)
    reply_at = execution.idle_at
    before_reply = [t for t, _ in updates if t < reply_at - 0.1]
    assert len(before_reply) >= 10, f"only {len(before_reply)} live updates"
    elapsed = float(story_kernel.ok("print(SlowStory.last.elapsed)").printed.split()[-1])
    spread = before_reply[-1] - before_reply[0]  # against the call's own time, so a busy machine reads the same
    assert spread > 0.5 * elapsed, f"updates spread over {spread:.2f} s of a {elapsed:.2f} s stream, not a burst"
    final = _final_view(execution)
    assert 'data-status="done"' in final and "baml-class" in final
    assert llm.requests()[-1]["outcome"] == "completed"
    assert not execution.of_type("comm_open"), "a foreground call's view opens no widget model"


def test_display_widget_streams_through_widget_models_and_closes_them(story_kernel: Kernel) -> None:
    story_kernel.ok("%config BamlMagic.display = 'widget'")
    try:
        execution = story_kernel.ok("story = SlowStory('a harbour')")
    finally:
        story_kernel.ok("%config BamlMagic.display = 'auto'")
    opened = {m["content"]["comm_id"] for m in execution.of_type("comm_open")}
    closed = {m["content"]["comm_id"] for m in execution.of_type("comm_close")}
    widget_updates = [m for m in execution.of_type("comm_msg") if m["content"]["data"].get("method") == "update"]
    assert opened and opened == closed, "every widget model the view opened was closed"
    assert len(widget_updates) >= 5 and 'data-status="done"' in _final_view(execution)


def _interrupt_after_updates(kernel: Kernel, code: str, updates: int = 4) -> tuple[float, Execution]:
    msg_id, execution = kernel.start(code)
    def streaming(e: Execution) -> bool:
        with_text = [m for _, m in _updates(e) if "baml-string" in json.dumps(m["content"]["data"])]
        printed = [m for m in e.of_type("stream") if m["content"]["text"].strip()]
        return len(with_text) >= updates or len(printed) >= updates

    kernel.collect(msg_id, execution, until=streaming)
    interrupted_at = kernel.interrupt()
    kernel.collect(msg_id, execution, timeout=10)
    return interrupted_at, execution


def _assert_cancelled(kernel: Kernel, llm, interrupted_at: float, execution: Execution,
                      ename: str = "KeyboardInterrupt") -> None:
    assert execution.status == "error"
    assert execution.reply["content"]["ename"] == ename
    record = llm.requests()[-1]
    assert record["outcome"] == "client_closed", record
    assert record["ended"] - interrupted_at < 1.0, "connection must close at the interrupt, not seconds later"
    assert record["tokens_sent"] < record["tokens_planned"]
    assert execution.idle_at - interrupted_at < 1.0
    state = json.loads(kernel.ok("import json; print(json.dumps([SlowStory.last.status, "
                                 "SlowStory.last.partial is not None]))").printed.strip().splitlines()[-1])
    assert state == ["cancelled", True]
    assert "True" in kernel.ok("print(bool(GenerateStory('next').title))").text


def test_interrupt_mid_stream_cancels_the_request(story_kernel: Kernel, llm) -> None:
    at, execution = _interrupt_after_updates(story_kernel, "SlowStory('a storm')")
    _assert_cancelled(story_kernel, llm, at, execution)
    final = _final_view(execution)
    assert 'data-status="cancelled"' in final and "baml-string" in final, "the view keeps the partial"


def test_interrupt_during_stream_iteration(story_kernel: Kernel, llm) -> None:
    at, execution = _interrupt_after_updates(
        story_kernel, "for p in SlowStory.stream('ships'):\n    print(len(p.body or ''), flush=True)")
    _assert_cancelled(story_kernel, llm, at, execution)


def test_interrupt_during_top_level_await(story_kernel: Kernel, llm) -> None:
    at, execution = _interrupt_after_updates(story_kernel, "await SlowStory.aio('bells')")
    # ipykernel interrupts an await-cell by cancelling its task: the cell ends with CancelledError.
    _assert_cancelled(story_kernel, llm, at, execution, ename="CancelledError")


def test_interrupt_of_a_one_piece_call(story_kernel: Kernel, llm) -> None:
    # stream=False waits on the kernel's main thread: ipykernel's SIGINT must still abort it, and the request is a
    # stream on the wire (a server stops generating only when it can't write).
    msg_id, execution = story_kernel.start("SlowStory.with_options(stream=False)('a gale')")
    wait_until(lambda: llm.requests() and llm.requests()[-1]["outcome"] == "running", what="the request")
    at = story_kernel.interrupt()
    story_kernel.collect(msg_id, execution, timeout=10)
    assert execution.status == "error" and execution.reply["content"]["ename"] == "KeyboardInterrupt"
    record = llm.requests()[-1]
    assert record["stream"] is True and record["outcome"] == "client_closed", record
    assert record["ended"] - at < 0.5 and execution.idle_at - at < 1.0
    state = story_kernel.ok("print(SlowStory.last.status, SlowStory.last.partial)").printed.strip().splitlines()[-1]
    assert state == "cancelled None"
    assert "True" in story_kernel.ok("print(bool(GenerateStory.with_options(stream=False)('next').title))").text


def test_interrupt_during_async_for(story_kernel: Kernel, llm) -> None:
    at, execution = _interrupt_after_updates(
        story_kernel, "async for p in SlowStory.astream('moss'):\n    print(len(p.body or ''), flush=True)")
    _assert_cancelled(story_kernel, llm, at, execution, ename="CancelledError")


def test_interrupt_before_the_first_token(story_kernel: Kernel, llm) -> None:
    _cell(story_kernel, SLOW.replace("Slow", "Stalled").replace("tps=20", "fault=stall&after=0&stall=20")
          + "function" + STORY.split("function", 1)[1].replace("GenerateStory", "Waits")
          .replace("client Fast", "client Stalled"))
    msg_id, execution = story_kernel.start("Waits('nothing yet')")
    wait_until(lambda: llm.requests() and llm.requests()[-1]["outcome"] == "running", what="the request")
    at = story_kernel.interrupt()
    story_kernel.collect(msg_id, execution, timeout=10)
    assert execution.reply["content"]["ename"] == "KeyboardInterrupt"
    record = llm.requests()[-1]
    assert record["outcome"] == "client_closed" and record["tokens_sent"] == 0
    assert record["ended"] - at < 1.0
    assert 'data-status="cancelled"' in _final_view(execution)


def _widget_ids(execution: Execution) -> dict[str, str]:
    """CSS class -> comm id of the widgets a cell opened."""
    ids = {}
    for message in execution.of_type("comm_open", "comm_msg"):
        state = message["content"]["data"].get("state", {})
        for css in state.get("_dom_classes", []):  # sent on open, or in an update after add_class
            ids[css] = message["content"]["comm_id"]
    return ids


def test_playground_runs_and_stops_through_widget_comms(story_kernel: Kernel, llm) -> None:
    execution = story_kernel.ok("SlowStory.playground()")
    ids = _widget_ids(execution)
    assert {"baml-magic-field-prompt", "baml-magic-run", "baml-magic-stop", "baml-magic-status-widget"} <= set(ids)
    story_kernel.send_comm(ids["baml-magic-field-prompt"],
                           {"method": "update", "state": {"value": "herons"}, "buffer_paths": []})
    llm.reset()
    story_kernel.send_comm(ids["baml-magic-run"], {"method": "custom", "content": {"event": "click"}})

    def status_updates(messages):
        return [m for _, m in messages if m["header"]["msg_type"] == "comm_msg"
                and m["content"]["comm_id"] == ids["baml-magic-status-widget"]]

    streamed = story_kernel.drain(10, until=lambda ms: len(status_updates(ms)) >= 8)
    assert len(status_updates(streamed)) >= 8, "the run streams updates after the cell finished"
    assert llm.requests()[-1]["outcome"] == "running"
    stopped_at = time.time()
    story_kernel.send_comm(ids["baml-magic-stop"], {"method": "custom", "content": {"event": "click"}})
    after = story_kernel.drain(3, until=lambda ms: any(
        "cancelled" in json.dumps(m["content"]) for m in status_updates(ms)))
    assert any("cancelled" in json.dumps(m["content"]) for m in status_updates(after))
    record = wait_until(lambda: (r := llm.requests()[-1])["outcome"] != "running" and r, what="the request to end")
    assert record["outcome"] == "client_closed" and record["ended"] - stopped_at < 1.0


def test_an_interrupt_reads_as_one_line_not_a_traceback(story_kernel: Kernel) -> None:
    _, execution = _interrupt_after_updates(story_kernel, "SlowStory('a calm sea')")
    error = execution.of_type("error")[0]["content"]
    shown = "\n".join(error["traceback"])
    assert error["ename"] == "KeyboardInterrupt"
    assert "SlowStory after" in shown and "SlowStory.last.partial" in shown
    assert "threading.py" not in shown and "baml_magic" not in shown
