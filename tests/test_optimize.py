"""BAML's own prompt optimizer live in a cell (issue #38): ``baml-cli optimize --beta`` in a child process, its
candidates as data and as versions, ``apply``, an interrupt that keeps what was found, no key in any output.

The reflection client and the function's client both point at the offline model, so the optimizer runs
offline; its candidates are the offline model's placeholder prose, which is what these tests expect.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from baml_magic import OptimizerError, OptimizeResult, testing
from baml_magic.optimize._result import Candidate, frontier
from baml_magic.optimize._runner import Budget, reflection_clients
from baml_magic.sources._blocks import function_facts, with_prompt
from baml_magic.testing import Kernel, wait_until
from tests.conftest import baml_cell

SECRET = "sk-optimize-0123456789abcdefghij"
PROJECT = '''
client<llm> Local {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local"
    api_key env.OPTIMIZE_TEST_KEY
  }
}
client<llm> Slow {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local?tps=15&words=200"
    api_key env.OPTIMIZE_TEST_KEY
  }
}
enum Category {
  BILLING
  TECHNICAL
}
function Classify(text: string) -> Category {
  client Local
  prompt #"Is this a billing question? {{ text }}
  {{ ctx.output_format }}"#
}
test ChargedTwice {
  functions [Classify]
  args { text "I was charged twice" }
  @@assert({{ this == "BILLING" }})
}
test AppCrashes {
  functions [Classify]
  args { text "The app crashes on start" }
  @@assert({{ this == "TECHNICAL" }})
}
'''


def test_a_prompt_is_replaced_whole_and_reads_back_the_same() -> None:
    block = 'function F(x: string) -> string {\n  client "openai/gpt-4o"\n  prompt #"Hi {{ x }}"#\n}'
    for prompt in ("Hello {{ x }}", 'Say "# then {{ x }}\nand more', "line one\n\nline three {{ x }}"):
        replaced = with_prompt(block, prompt)
        assert replaced is not None and function_facts(replaced).client == "openai/gpt-4o"
        read = function_facts(replaced).prompt or ""
        assert [line.strip() for line in read.strip().splitlines()] == [line.strip() for line in prompt.splitlines()]
    assert with_prompt("function F(x: string) -> string {\n  client C\n}", "x") is None


def test_the_frontier_keeps_what_no_other_candidate_beats() -> None:
    def candidate(n: int, rate: float, tokens: float) -> Candidate:
        return Candidate(n, n, "Reflection", [], "p", "s", rate, None, None, tokens, 0.0, 10.0)

    pool = [candidate(0, 0.5, 100), candidate(1, 0.5, 80), candidate(2, 1.0, 120), candidate(3, 0.0, 50)]
    assert frontier(pool, ["accuracy"]) == [2]
    assert frontier(pool, ["accuracy", "tokens"]) == [1, 2, 3]


def test_bad_budgets_are_one_line_before_anything_starts() -> None:
    for budget, word in ((Budget(trials=0), "trials"), (Budget(max_evals=-3), "max_evals"),
                         (Budget(auto="huge"), "auto"), (Budget(weights="accuracy=high"), "weights")):
        with pytest.raises(ValueError, match=word):
            budget.arguments()
    assert Budget(trials=2, weights="accuracy=0.8,tokens=0.2").objectives() == ["accuracy", "tokens"]


def test_the_reflection_model_is_a_client_of_the_project(shell: testing.TestingShell) -> None:
    assert baml_cell(shell, PROJECT).success
    compiled = shell.user_ns["Classify"].compiled
    text = reflection_clients(compiled, "Slow")
    assert "client<llm> ReflectionModel {" in text and 'model "local?tps=15&words=200"' in text
    assert "client<llm> Local {" in text  # the others stay, for a fallback that names them
    shorthand = reflection_clients(compiled, "openai/gpt-4o-mini")
    assert 'client<llm> ReflectionModel {\n  provider "openai"' in shorthand
    with pytest.raises(OptimizerError, match="no client Nope"):
        reflection_clients(compiled, "Nope")


@pytest.mark.slow  # seconds in process
def test_optimize_runs_offline_keeps_versions_and_applies(shell: testing.TestingShell, tmp_path: Path,
                                                          monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv("OPTIMIZE_TEST_KEY", SECRET)
    assert baml_cell(shell, PROJECT).success
    shell.run_line_magic("baml", "test")
    started = time.monotonic()
    result = shell.user_ns["Classify"].optimize(trials=2, max_evals=12, folder=str(tmp_path))
    took = time.monotonic() - started
    assert result.status == "done" and took < 60, (result.status, took)
    assert [c.id for c in result.candidates] == [0, 1, 2]
    first = result.candidates[0]
    assert first.method == "Initial" and first.pass_rate == 0.5 and (first.tests_passed, first.tests_total) == (1, 2)
    assert result.frontier == [0] and result.best is first
    assert result.diff(1).startswith("--- Classify (yours)\n+++ Classify #1") and "-  prompt #\"Is this a billing" \
        in result.diff(1)
    rows = result.rows()
    assert rows[0]["frontier"] is True and {"pass_rate", "tokens", "latency_ms", "prompt"} <= set(rows[0])
    assert "★ #0" in repr(result) and "the best new candidate" in repr(result)
    assert "baml-magic-optimize" in result._repr_html_()
    # every candidate is a version in the run history; #0 is the function's own
    fn = shell.user_ns["Classify"]
    versions = {r["version"] for r in fn.history.rows() if r["kind"] == "optimize"}
    assert fn.version in versions and len(versions) >= 2
    # apply binds the candidate and shows the cell to paste; the tests run on it and diff against yours
    applied = result.apply(1)
    assert applied is shell.user_ns["Classify"] and applied.spec.prompt == result.candidates[1].prompt.strip()
    assert "%%baml\nclient<llm> Local {" in capsys.readouterr().out
    grid = shell.run_line_magic("baml", "test --diff")
    assert grid.diff is not None and all(c.against.startswith("v1 (") for c in grid.diff.cells)
    with pytest.raises(OptimizerError, match="defined in a cell"):
        result.apply(0, write=True)
    # the artifacts, as data, from the folder alone (as after a restart)
    again = OptimizeResult.read(result.folder.parent)
    assert [c.pass_rate for c in again.candidates] == [c.pass_rate for c in result.candidates]
    assert again.status == "done" and again.function == "Classify"
    with pytest.raises(OptimizerError, match="--open"):
        again.apply(0)
    shown = json.dumps(result.rows()) + repr(result) + result._repr_html_() + capsys.readouterr().out
    assert SECRET not in shown
    assert all(SECRET not in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.slow  # seconds in process
def test_what_the_optimizer_refuses_is_one_line(shell: testing.TestingShell, tmp_path: Path) -> None:
    assert baml_cell(shell, PROJECT).success
    fn = shell.user_ns["Classify"]
    with pytest.raises(OptimizerError, match="give more --max-evals or fewer --trials"):
        fn.optimize(trials=10, max_evals=4, folder=str(tmp_path))
    with pytest.raises(OptimizerError, match="no test block of Classify matches Nothing"):
        fn.optimize(tests=["Nothing"], folder=str(tmp_path))
    with pytest.raises(OptimizerError, match="trials must be a whole number"):
        fn.optimize(trials=0, folder=str(tmp_path))
    with pytest.raises(OptimizerError, match="no optimizer run"):
        OptimizeResult.read(tmp_path / "nowhere")


def test_in_a_kernel_optimize_shows_a_frontier_an_interrupt_keeps_candidates_and_apply_rebinds(
        llm: Any, tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    try:
        kernel.ok(f"import os; os.environ['OPTIMIZE_TEST_KEY'] = {SECRET!r}")
        kernel.ok("%load_ext baml_magic")
        kernel.ok("%%baml\n" + PROJECT)
        done = kernel.ok(f"%baml optimize Classify --trials 2 --max-evals 12 --folder {tmp_path / 'runs'}",
                         timeout=120)
        text = done.text
        assert "candidate" in text and "★ #0" in text and "accuracy" in text and "the best new candidate" in text
        html = "".join(m["content"]["data"].get("text/html", "") for m in done.of_type("execute_result"))
        assert 'data-status="done"' in html and "baml-magic-source-diff" in html
        applied = kernel.ok("r = Classify.last_optimize; f = r.apply(1); print(Classify is f, Classify.spec.prompt)")
        assert "%%baml" in applied.printed and "True" in applied.printed
        tested = kernel.ok("%baml test")
        assert "BAML tests" in tested.text

        # an interrupt mid-run: the reflection model is slow, so the optimizer is stopped while it thinks
        msg_id, running = kernel.start(f"%baml optimize Classify --trials 3 --max-evals 20 --reflection Slow "
                                       f"--folder {tmp_path / 'stopped'}")
        wait_until(lambda: any((tmp_path / "stopped").glob("*/run/candidates/00_candidate.json")), 60,
                   "the first candidate scored")
        kernel.interrupt()
        kernel.collect(msg_id, running, timeout=30)
        assert running.status == "error" and "KeyboardInterrupt" in running.text
        assert "the candidates found so far are in Classify.last_optimize" in running.text
        kept = kernel.ok("r = Classify.last_optimize; print(r.status, [c.id for c in r.candidates])").printed
        assert kept.startswith("cancelled [0"), kept
        alive = kernel.ok("print(len(Classify.history.rows()) > 0)").printed
        assert "True" in alive
        outputs = done.text + applied.text + tested.text + running.text + kept
        assert SECRET not in outputs
    finally:
        kernel.shutdown()
    # a new kernel (a restart): the first run's artifacts as data, and apply works again once opened
    restarted = Kernel(tmp_path)
    try:
        restarted.ok(f"import os; os.environ['OPTIMIZE_TEST_KEY'] = {SECRET!r}")
        restarted.ok("%load_ext baml_magic")
        restarted.ok("%%baml\n" + PROJECT)
        folder = next((tmp_path / "runs").iterdir())
        read = restarted.ok(f"from baml_magic import OptimizeResult; r = OptimizeResult.read({str(folder)!r}); "
                            "print(r.status, [(c.id, c.pass_rate) for c in r.candidates])").printed
        assert read.startswith("done [(0, 0.5), (1, "), read
        opened = restarted.ok(f"r = get_ipython().run_line_magic('baml', 'optimize --open {folder}'); "
                              "f = r.apply(1); print(Classify is f)").printed
        assert "True" in opened and SECRET not in read + opened
    finally:
        restarted.shutdown()
    assert not [p for p in (tmp_path / "stopped").rglob("*") if p.is_file() and SECRET in p.read_text(errors="replace")]
    # the child was stopped with its requests: nothing of it is left running
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "stopped")], capture_output=True, text=True).stdout
    assert not left.strip(), left


@pytest.mark.slow  # seconds in process
def test_a_loaded_folder_s_candidate_is_written_only_when_asked(shell: testing.TestingShell, tmp_path: Path) -> None:
    src = tmp_path / "baml_src"
    src.mkdir()
    (src / "classify.baml").write_text(PROJECT.replace("    api_key env.OPTIMIZE_TEST_KEY\n", ""))
    shell.run_line_magic("baml", f"load {src}")
    result = shell.user_ns["Classify"].optimize(trials=1, max_evals=6, tests=["AppCrashes"],
                                                 folder=str(tmp_path / "runs"))
    assert result.status == "done" and {c.tests_total for c in result.candidates} == {1}
    assert result.budget.endswith("/6 evaluations")
    before = (src / "classify.baml").read_text()
    result.apply(1)
    assert (src / "classify.baml").read_text() == before, "not written unless asked"
    assert shell.user_ns["Classify"].spec.prompt == result.candidates[1].prompt.strip()
    result.apply(1, write=True)
    written = (src / "classify.baml").read_text()
    assert written != before and result.candidates[1].prompt.strip().splitlines()[0].strip() in written
    assert "test AppCrashes {" in written, "the rest of the file is kept"
