"""Record and replay: every calling style reads the cache, nothing secret or wrong is kept (issue #16)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError

from baml_magic import CacheMiss
from baml_magic.calls._cache import Answer, ResponseStore, request_key
from baml_magic.testing import wait_until
from tests.conftest import CLIENT, STORY, baml_cell

SLOW = CLIENT.replace("Fast", "Slow").replace('model "local"', 'model "local?tps=20&words=60"')
FAULTY = CLIENT.replace("Fast", "Faulty").replace('model "local"', 'model "local?fault=http_500"')
MORE = """
function SlowStory(prompt: string) -> Story {
  client Slow
  prompt #"Write a long story about {{ prompt }}. {{ ctx.output_format }}"#
}
function FaultyStory(prompt: string) -> Story {
  client Faulty
  prompt #"Write a story about {{ prompt }}. {{ ctx.output_format }}"#
}
"""


@pytest.fixture
def ns(shell, tmp_path: Path):
    baml_cell(shell, CLIENT + SLOW + FAULTY + STORY + MORE)
    shell.run_line_magic("baml", f"cache on --path {tmp_path}")
    return shell.user_ns


def _sent(llm) -> int:
    return len(llm.requests())


def test_every_calling_style_replays_what_one_call_recorded(ns, llm, shell) -> None:
    story = ns["GenerateStory"]
    first = story("owls")
    assert story.last.cached is None and story.last.usage.output_tokens
    before = _sent(llm)
    assert story("owls") == first
    assert story.last.cached is not None and story.last.status == "done"
    assert story.last.usage.output_tokens == 0 and story.last.saved.output_tokens == first_tokens(story, shell)
    partials = list(story.stream("owls"))
    # The replay hands over its partials one by one (a reader that is slow, on a busy machine, sees the newest).
    assert story.last.partials > 3 and partials and partials[-1] == first, "a replayed stream grows as a real one"
    assert asyncio.run(story.aio("owls")) == first

    async def astream() -> list:
        return [p async for p in story.astream("owls")]

    assert asyncio.run(astream())[-1] == first
    assert story.start("owls").result(10) == first
    assert list(story.map(["owls", "owls"])) == [first, first]
    assert _sent(llm) == before, "no request reached the model"
    info = {row[0]: row[1] for row in shell.run_line_magic("baml", "cache info").rows}
    assert info["mode"] == "on" and info["entries"].startswith("1 ") and "7 hits, 1 misses, 1 stored" in \
        info["this session"]


def first_tokens(story, shell) -> int:
    return shell.user_ns["GenerateStory"].last.cached.output_tokens


def test_the_view_says_cached(ns, llm) -> None:
    from baml_magic.views import status_text

    ns["GenerateStory"]("bees")
    ns["GenerateStory"]("bees")
    assert " · cached · " in status_text(ns["GenerateStory"].last)


def test_replay_mode_fails_a_miss_clearly_and_sends_nothing(ns, llm, shell) -> None:
    ns["GenerateStory"]("owls")
    shell.run_line_magic("baml", "cache replay")
    assert ns["GenerateStory"]("owls")
    before = _sent(llm)
    with pytest.raises(CacheMiss, match=r"GenerateStory\(prompt='herons'\): no recorded answer in .*replay"):
        ns["GenerateStory"]("herons")
    assert _sent(llm) == before


def test_record_mode_always_calls_and_keeps_the_newest(ns, llm, shell) -> None:
    shell.run_line_magic("baml", "cache record")
    ns["GenerateStory"]("owls")
    before = _sent(llm)
    ns["GenerateStory"]("owls")
    assert _sent(llm) == before + 1 and ns["GenerateStory"].last.cached is None
    shell.run_line_magic("baml", "cache off")
    ns["GenerateStory"]("owls")
    assert _sent(llm) == before + 2


@pytest.mark.slow
def test_a_cancelled_or_failed_call_is_not_kept(ns, llm, shell) -> None:
    handle = ns["SlowStory"].start("a long night")
    wait_until(lambda: handle.partial is not None, what="a partial")
    handle.cancel()
    assert handle.status == "cancelled" and handle.partial is not None
    with pytest.raises(Exception, match="500"):
        ns["FaultyStory"]("x")
    info = {row[0]: row[1] for row in shell.run_line_magic("baml", "cache info").rows}
    assert info["entries"] == "0"
    before = _sent(llm)
    ns["SlowStory"].with_options(timeout=30)("a long night")
    assert _sent(llm) == before + 1 and ns["SlowStory"].last.cached is None, "the re-run calls the model again"


@pytest.mark.slow
def test_paced_replay_takes_the_recorded_time(ns, llm, shell) -> None:
    ns["SlowStory"]("dawn")
    recorded = ns["SlowStory"].last.elapsed
    shell.run_line_magic("baml", "cache on --pace")
    started = time.monotonic()
    ns["SlowStory"]("dawn")
    assert time.monotonic() - started > 0.8 * recorded
    shell.run_line_magic("baml", "cache on --no-pace")
    started = time.monotonic()
    ns["SlowStory"]("dawn")
    assert time.monotonic() - started < 0.5 * recorded


def test_the_key_holds_no_secret_and_the_file_neither(ns, llm, shell, tmp_path: Path, monkeypatch) -> None:
    class Request:
        method, body = "POST", None

        def __init__(self, url: str) -> None:
            self.url = url

    class Body:
        def json(self) -> dict:
            return {"model": "m", "messages": [], "stream": True}

    a, b = (Request(f"https://x.test/v1/models/m:generate?key=SECRET-{n}") for n in ("ONE", "TWO"))
    a.body = b.body = Body()
    assert request_key("F", "F() -> string", a) == request_key("F", "F() -> string", b)
    secret = "sk-local-" + "q" * 24
    monkeypatch.setenv("LOCAL_KEY", secret)
    keyed = CLIENT.replace("Fast", "Keyed").replace("base_url env.LOCAL_LLM_BASE_URL",
                                                    "base_url env.LOCAL_LLM_BASE_URL\n    api_key env.LOCAL_KEY")
    baml_cell(shell, keyed + 'function KeyedStory(p: string) -> string {\n  client Keyed\n'
                             '  prompt #"Tell {{ p }}"#\n}\n')
    ns["KeyedStory"]("a secret")
    ns["KeyedStory"]("a secret")
    assert ns["KeyedStory"].last.cached is not None
    for file in tmp_path.iterdir():
        assert secret.encode() not in file.read_bytes(), file


def test_a_damaged_file_or_entry_is_a_miss_not_a_crash(ns, llm, shell, tmp_path: Path, capsys) -> None:
    ns["GenerateStory"]("owls")
    db = sqlite3.connect(tmp_path / "responses.sqlite3")
    db.execute("UPDATE answers SET answer = '{\"raw\": '")
    db.commit()
    db.close()
    before = _sent(llm)
    assert ns["GenerateStory"]("owls") and ns["GenerateStory"].last.cached is None
    assert _sent(llm) == before + 1
    shell.run_line_magic("baml", "cache off")
    for path in tmp_path.glob("responses.sqlite3*"):
        path.unlink()
    (tmp_path / "responses.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x07" * 300)  # truncated, damaged
    shell.run_line_magic("baml", "cache on")
    assert ns["GenerateStory"]("owls") and ns["GenerateStory"]("owls")
    assert ns["GenerateStory"].last.cached is not None, "a new file was started and works"
    assert "set aside" in capsys.readouterr().err
    assert list(tmp_path.glob("responses.sqlite3.damaged-*"))


WRITER = """
import sys
from pathlib import Path
from baml_magic.calls._cache import Answer, ResponseStore
store = ResponseStore(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    store.put(f"{sys.argv[2]}-{i}", "F", Answer("x" * 200, 1, 2, 0.1, 0.2, "openai", "C"))
"""


@pytest.mark.slow  # measured over a second
def test_two_kernels_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, "300"]) for name in ("a", "b")]
    assert [w.wait(120) for w in writers] == [0, 0]
    store = ResponseStore(path)
    assert store.count() == {"F": 600}
    assert store.get("a-299") == Answer("x" * 200, 1, 2, 0.1, 0.2, "openai", "C")


def test_a_file_another_kernel_holds_locked_is_never_set_aside(tmp_path: Path, capsys) -> None:
    path = tmp_path / "shared.sqlite3"
    answer = Answer("x" * 20, 1, 2, 0.1, 0.2, "openai", "C")
    ResponseStore(path).put("kept", "F", answer)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another kernel in the middle of a write
    busy = ResponseStore(path)
    busy.busy_seconds = 0.2
    try:
        busy.put("new", "F", answer)  # not kept: the lock outlasted the wait
        assert busy.get("kept") == answer, "WAL: reading goes on while another kernel writes"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "set aside" not in capsys.readouterr().err and not list(tmp_path.glob("*.damaged-*"))
    assert busy.get("kept") == answer, "the file and its answers are still there"
    busy.put("new", "F", answer)
    assert ResponseStore(path).count() == {"F": 2}


def test_cache_commands_check_their_arguments(ns, shell) -> None:
    with pytest.raises(UsageError, match="--all"):
        shell.run_line_magic("baml", "cache clear")
    with pytest.raises(UsageError):
        shell.run_line_magic("baml", "cache sometimes")
    with pytest.raises(UsageError, match="only clear"):
        shell.run_line_magic("baml", "cache on GenerateStory")
    ns["GenerateStory"]("owls")
    assert shell.run_line_magic("baml", "cache clear GenerateStory") == "forgot 1 answer"


def _timed(nb) -> float:
    """Seconds the notebook's calls took (the cells that call the model), from nbclient's timings."""
    total = 0.0
    for cell in nb.cells:
        if cell.cell_type == "code" and "Story(" in cell.source:
            timing = cell.metadata["execution"]
            total += (datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                      - datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))).total_seconds()
    return total


def test_a_notebook_run_twice_replays_everything_the_second_time(llm, tmp_path: Path, run_notebook) -> None:
    one_second = CLIENT.replace('model "local"', 'model "local?seconds=1"')
    cells = ["%load_ext baml_magic", "%%baml\n" + one_second + STORY, "%baml cache on --path .",
             'print(GenerateStory("owls"))', 'print(GenerateStory("bees"))',
             'print([p for p in GenerateStory.stream("herons")][-1])', 'print(GenerateStory.map(["a", "b"]))']
    outputs, took = [], []
    for _ in range(2):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        before = len(llm.requests())
        run_notebook(nb, tmp_path)
        outputs.append([[o.get("text") for o in c.outputs if o.output_type == "stream"] for c in nb.cells[3:]])
        took.append((_timed(nb), len(llm.requests()) - before))
    (_, first_sent), (second_time, second_sent) = took
    assert first_sent == 5 and second_sent == 0, took
    assert outputs[0] == outputs[1] and all(outputs[0]), "identical outputs"
    assert second_time < 1.0, f"no replayed cell waited the model's second: {took}"
