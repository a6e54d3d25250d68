"""Features where they meet, across kernel restarts, as a notebook user meets them (real kernels)."""

from __future__ import annotations

import time

from tests.conftest import CLIENT, STORY, Kernel

SETUP = "%load_ext baml_magic\nfrom baml_magic import local_llm\nlocal_llm.use()"
ROWS = [f"topic {i}" for i in range(12)]


def _cache_state(kernel: Kernel) -> dict[str, int]:
    """This session's hits, misses and stored answers, as ``%baml cache info`` shows them."""
    info = kernel.ok("t = %baml cache info\nprint(dict(t.rows)['this session'])").printed.strip().splitlines()[-1]
    counts = dict(reversed(part.split()) for part in info.split(", "))
    return {k: int(v) for k, v in counts.items()}


def test_a_replay_holds_across_restarts_and_skips_the_pace(kernel_factory, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BAML_MAGIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LOCAL_LLM_BASE_URL", raising=False)  # each kernel starts its own offline model
    cells = [SETUP, "%baml cache on", "%%baml\n" + CLIENT + STORY]
    first = kernel_factory(tmp_path)
    for cell in cells:
        first.ok(cell)
    first.ok(f"GenerateStory.map({ROWS!r})", timeout=120)
    assert _cache_state(first)["stored"] == len(ROWS)
    port = first.ok("import os; print(os.environ['LOCAL_LLM_BASE_URL'])").printed.strip()
    first.shutdown()

    second = kernel_factory(tmp_path)  # a restart: a new kernel, its offline model on another port
    for cell in cells:
        second.ok(cell)
    assert second.ok("import os; print(os.environ['LOCAL_LLM_BASE_URL'])").printed.strip() != port
    started = time.monotonic()
    # 12 requests at 6 a minute would take two minutes: answers from the cache send nothing, so nothing waits.
    second.ok(f"results = GenerateStory.map({ROWS!r}, rpm=6)", timeout=100)
    elapsed = time.monotonic() - started
    state = _cache_state(second)
    assert (state["hits"], state["misses"]) == (len(ROWS), 0), state
    assert elapsed < 60, f"cache hits were paced: {elapsed:.1f} s"
    assert "True" in second.ok("print(all(r.title for r in results))").printed


def test_cost_is_where_people_look(shell, llm) -> None:
    from tests.conftest import baml_cell

    baml_cell(shell, CLIENT + STORY)
    fn = shell.user_ns["GenerateStory"]
    fn("owls")
    assert fn.last.cost is None
    notes = shell.run_line_magic("baml", "usage").notes
    assert any("no price known for 'local'" in n and "BamlMagic.prices" in n for n in notes), notes
    shell.run_line_magic("config", "BamlMagic.prices = {'local': (1.0, 2.0)}")
    fn("owls")
    usage = fn.last.usage
    assert fn.last.cost == (usage.input_tokens * 1.0 + usage.output_tokens * 2.0) / 1e6
    from baml_magic.views import status_text

    assert status_text(fn.last).endswith(" · $" + f"{fn.last.cost:.6f}"), status_text(fn.last)
    assert fn.last.cost in [row["cost"] for row in fn.history.rows()], "its run record carries the cost"


def test_a_kernel_killed_hard_leaves_no_offline_server(kernel_factory, tmp_path) -> None:
    import os
    import signal

    from baml_magic.testing import wait_until

    kernel = kernel_factory(tmp_path)
    kernel_pid, pid = map(int, kernel.ok("import os\nfrom baml_magic import local_llm\nserver = local_llm.start()\n"
                                         "print(os.getpid(), server.process.pid)").printed.split()[-2:])
    os.kill(pid, 0)  # running
    os.kill(kernel_pid, signal.SIGKILL)  # no atexit, no cleanup: the OS closes its pipes

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat") as stat:  # a zombie waits for its parent to reap it: it serves nothing
            return stat.read().split(") ", 1)[1].startswith("Z")

    wait_until(gone, timeout=10, what="the offline server to exit with its kernel")


def test_restore_binds_a_kept_version_again_with_its_runs(shell, llm, capsys) -> None:
    import pytest

    from tests.conftest import baml_cell

    texts = [STORY.replace("Write a short story about", prompt) for prompt in
             ("Write a short story about", "Tell a tale of", "Write a fable on")]
    for text in texts:
        baml_cell(shell, CLIENT + text)
        shell.user_ns["GenerateStory"]("owls")
    fn = shell.user_ns["GenerateStory"]
    first = fn.history.versions()[0]
    assert len(fn.history.versions()) == 3 and fn.version != first["hash"]
    capsys.readouterr()
    restored = fn.restore(1)
    printed = capsys.readouterr().out
    assert "now runs version v1" in printed and "%%baml" in printed and "Write a short story about" in printed
    assert shell.user_ns["GenerateStory"] is restored and restored.version == first["hash"]
    assert "Write a short story about" in restored.prompt("owls").messages[-1].content
    mine = [r for r in restored.history.rows() if r["version"] == restored.version]
    assert len(mine) == first["runs"] == 1, "its runs are its own again"
    shell.run_line_magic("baml", "runs restore GenerateStory v3")
    assert shell.user_ns["GenerateStory"].version == fn.history.versions()[2]["hash"]
    with pytest.raises(Exception, match="no kept version 'v9'; kept: v1, v2, v3"):
        restored.restore("v9")
    with pytest.raises(Exception, match="defined in a cell, not a file"):
        restored.restore(1, write=True)


def test_a_missing_url_gets_url_advice_not_key_advice(shell, llm, monkeypatch) -> None:
    import pytest

    from baml_magic import MissingEnvVarError
    from tests.conftest import baml_cell

    baml_cell(shell, CLIENT + STORY)
    monkeypatch.delenv("LOCAL_LLM_BASE_URL")
    with pytest.raises(MissingEnvVarError) as raised:
        shell.user_ns["GenerateStory"]("owls")
    line = str(raised.value)
    assert "local_llm.use()" in line and "getpass" not in line and "\n" not in line, line


def test_a_failed_map_is_one_line_that_says_where_the_rows_are(shell, llm) -> None:
    import pytest

    from tests.conftest import baml_cell

    baml_cell(shell, CLIENT.replace('model "local"', 'model "local?fault=unparsable"') + STORY)
    with pytest.raises(Exception) as raised:
        shell.user_ns["GenerateStory"].map(["owls", "bats"])
    shown = raised.value._render_traceback_()
    assert len(shown) == 1 and "\n" not in shown[0], shown
    assert "BamlValidationError" in shown[0] and "GenerateStory.last_map" in shown[0] and "input " in shown[0]
    assert "could not read the answer as Story" in shown[0], shown[0]


def test_no_test_blocks_is_said(shell, llm) -> None:
    import pytest
    from IPython.core.error import UsageError

    from tests.conftest import baml_cell

    baml_cell(shell, CLIENT + STORY)
    for line in ("test", "test --diff", "test --fail-on-regression"):
        with pytest.raises(UsageError, match="no BAML test blocks yet"):
            shell.run_line_magic("baml", line)


def test_the_playground_refuses_an_empty_input_and_labels_end_in_an_ellipsis(shell, llm) -> None:
    from tests.conftest import baml_cell

    baml_cell(shell, CLIENT + STORY)
    fn = shell.user_ns["GenerateStory"]
    pg = fn.playground()
    pg.fields[0].widget.value = "   "
    assert pg.start() is None and "prompt is empty" in pg.message.value, pg.message.value
    grid = fn.compare(["a very long input " * 5])
    assert grid.rows[0].endswith("…"), grid.rows[0]


def test_tokens_the_optimizer_could_not_count_are_unknown_not_zero(tmp_path) -> None:
    import json

    from baml_magic.optimize._result import read_candidate

    scores = {"test_pass_rate": 0.5, "tests_passed": 1, "tests_total": 2, "avg_prompt_tokens": 0.0,
              "avg_completion_tokens": 0.0, "avg_latency_ms": 6.0}  # what baml-cli optimize wrote, no usage sent
    path = tmp_path / "00_candidate.json"
    path.write_text(json.dumps({"id": 0, "iteration": 0, "method": "Initial", "parent_ids": [],
                                "function": {"function_name": "F", "prompt_text": "p"}, "scores": scores}))
    candidate = read_candidate(path, "")
    assert candidate is not None and candidate.tokens is None and candidate.pass_rate == 0.5
    path.write_text(path.read_text().replace('"avg_prompt_tokens": 0.0', '"avg_prompt_tokens": 40.0'))
    assert read_candidate(path, "").tokens == 40.0
