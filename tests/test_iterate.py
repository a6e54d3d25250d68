"""Iterate without losing the last answer: runs kept by version, diffs, a regression gate (issue #37).

The offline model picks an enum value by the words of the prompt before its output format (its
``classify``): a prompt that says "billing" answers BILLING, one that says "technical" answers
TECHNICAL. So editing the prompt moves the verdicts of the test blocks below deterministically.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from baml_magic import RegressionError, testing
from baml_magic.history._diff import changed_fields
from baml_magic.history._runs import RunHistory
from baml_magic.testing import wait_until
from tests.conftest import baml_cell
from tests.test_first_hour import _outputs

CLIENT = '''
client<llm> Local {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local"
  }
}
'''


def classifier(leaning: str) -> str:
    """A classifier whose prompt leans to one category (the offline model follows the prompt's words)."""
    return CLIENT + f'''
enum Category {{
  BILLING
  TECHNICAL
}}
class Ticket {{
  category Category
  summary string
}}
function Classify(text: string) -> Category {{
  client Local
  prompt #"Is this a {leaning} question? {{{{ text }}}}
  {{{{ ctx.output_format }}}}"#
}}
function Triage(text: string) -> Ticket {{
  client Local
  prompt #"Triage this {leaning} ticket: {{{{ text }}}}
  {{{{ ctx.output_format }}}}"#
}}
test ChargedTwice {{
  functions [Classify]
  args {{ text "I was charged twice" }}
  @@assert({{{{ this == "BILLING" }}}})
}}
test AppCrashes {{
  functions [Classify]
  args {{ text "The app crashes on start" }}
  @@assert({{{{ this == "TECHNICAL" }}}})
}}
'''


def test_runs_are_kept_by_version_and_a_diff_marks_what_moved(shell: testing.TestingShell) -> None:
    assert baml_cell(shell, classifier("billing")).success
    first = shell.run_line_magic("baml", "test")
    assert {o.row: str(o.verdict) for o in first.outcomes} == \
        {"Classify::ChargedTwice": "pass", "Classify::AppCrashes": "fail"}
    fn = shell.user_ns["Classify"]
    v1 = fn.version
    assert baml_cell(shell, classifier("technical")).success  # the edit: a new version
    fn = shell.user_ns["Classify"]
    assert fn.version != v1

    grid = shell.run_line_magic("baml", "test --diff")
    diff = grid.diff
    moved = {c.row: c.change for c in diff.cells}
    assert moved == {"Classify::ChargedTwice": "worse", "Classify::AppCrashes": "better"}, moved
    assert [c.row for c in diff.regressions] == ["Classify::ChargedTwice"]
    line = diff.line()
    assert line.startswith("BAML tests vs Classify v1 (") and "1 better · 1 worse · 0 same" in line, line
    # the value moved field by field, shown in both renderings
    worse = next(c for c in diff.cells if c.change == "worse")
    assert worse.fields == [("", "BILLING", "TECHNICAL")]
    assert "▼ worse" in repr(grid) and "BILLING → TECHNICAL" in repr(grid)
    page = grid._repr_html_()
    assert 'data-change="worse"' in page and 'data-regression="true"' in page and "<del" in page

    history = fn.history
    versions = history.versions()
    assert [(v["version"], v["runs"], v["passed"]) for v in versions] == [(1, 2, 1), (2, 2, 1)]
    rows = history.rows()
    assert rows[0]["version"] == fn.version and rows[-1]["version"] == v1  # newest first
    assert {r["kind"] for r in rows} == {"test"} and all(r["test"] for r in rows)
    assert "v2 (" in repr(history) and "4 runs of 2 versions" in repr(history)


def test_fail_on_regression_raises_one_line_only_when_a_passing_test_fails(shell: testing.TestingShell,
                                                                            capsys: Any) -> None:
    assert baml_cell(shell, classifier("billing")).success
    shell.run_line_magic("baml", "test")
    # the same version again: nothing moved, no error
    grid = shell.run_line_magic("baml", "test --fail-on-regression")
    assert grid.diff is not None and {c.change for c in grid.diff.cells} == {"new"}  # no earlier version yet
    assert baml_cell(shell, classifier("technical")).success
    with pytest.raises(RegressionError) as caught:
        shell.run_line_magic("baml", "test --fail-on-regression")
    message = str(caught.value)
    assert message.startswith("1 test passed on Classify v1 (") and "Classify::ChargedTwice [own client]" in message
    assert "\n" not in message and caught.value._render_traceback_()[0].endswith(message)
    # back to the first prompt: the version is known again by its text, and nothing regressed against v2's
    # ChargedTwice (it failed there)
    assert baml_cell(shell, classifier("billing")).success
    with pytest.raises(RegressionError, match=r"passed on Classify v2 \(\w+\) and fails now: Classify::AppCrashes"):
        shell.run_line_magic("baml", "test --diff 2 --fail-on-regression")  # AppCrashes passed on v2
    back = shell.run_line_magic("baml", "test --last")
    assert back.diff is not None and {c.row: c.change for c in back.diff.cells} == \
        {"Classify::ChargedTwice": "better", "Classify::AppCrashes": "worse"}
    assert shell.user_ns["Classify"].version == shell.user_ns["Classify"].history.rows()[-1]["version"]


@pytest.mark.slow  # seconds in process
def test_every_calling_style_is_kept_with_scrubbed_inputs(shell: testing.TestingShell, monkeypatch: Any) -> None:
    monkeypatch.setenv("MY_SECRET_TOKEN", "sk-iterate-0123456789abcdef")
    assert baml_cell(shell, classifier("billing")).success
    fn = shell.user_ns["Triage"]
    fn("My key is sk-iterate-0123456789abcdef, please bill me")
    list(fn.stream("stream me"))
    fn.map(["one", "two"])
    fn.compare(["ad hoc"])
    fn.batch(["batched"], poll=0.1).result(timeout=30)
    kinds = [r["kind"] for r in fn.history.rows()]
    assert sorted(kinds) == ["batch", "call", "call", "compare", "map", "map"], kinds
    assert fn.history.rows()[0]["inputs"] == {"text": "batched"}
    text = json.dumps(fn.history.rows())
    assert "sk-iterate-0123456789abcdef" not in text and "[redacted]" in text
    first = fn.history.rows()[-1]
    assert first["value"]["category"] in ("BILLING", "TECHNICAL") and first["tokens_out"]
    assert first["latency"] > 0 and first["replayed"] is False


def test_compare_against_a_version_diffs_ad_hoc_inputs_field_by_field(shell: testing.TestingShell) -> None:
    assert baml_cell(shell, classifier("billing")).success
    shell.user_ns["Triage"].compare(["The app crashes on start"])
    assert baml_cell(shell, classifier("technical")).success
    grid = shell.user_ns["Triage"].compare(["The app crashes on start", "never seen"], against="previous")
    cells = {c.row: c for c in grid.diff.cells}
    crashed = cells["1. 'The app crashes on start'"]
    assert crashed.change == "changed" and ("category", "BILLING", "TECHNICAL") in crashed.fields
    assert cells["2. 'never seen'"].change == "new"
    with pytest.raises(LookupError, match="no version 7 of Triage"):
        shell.user_ns["Triage"].compare(["x"], against=7)


def test_baml_diff_shows_the_source_diff_next_to_the_answers(shell: testing.TestingShell) -> None:
    assert baml_cell(shell, classifier("billing")).success
    shell.run_line_magic("baml", "test")
    with pytest.raises(UsageError, match="no earlier version yet"):
        shell.run_line_magic("baml", "diff Classify")
    assert baml_cell(shell, classifier("technical")).success
    shell.run_line_magic("baml", "test")
    diff = shell.run_line_magic("baml", "diff Classify")
    text = repr(diff)
    assert "-  prompt #\"Is this a billing question?" in text and "+  prompt #\"Is this a technical question?" in text
    assert diff.line().startswith("Classify: v1 (") and "answers: 1 better · 1 worse" in diff.line()
    assert "<del>" in diff._repr_html_() and "#cf222e" in diff._repr_html_()
    with pytest.raises(UsageError, match="no version 9 of Classify"):
        shell.run_line_magic("baml", "diff Classify 9")
    with pytest.raises(UsageError, match="no bound function Nope"):
        shell.run_line_magic("baml", "diff Nope")


def test_runs_saved_to_a_file_are_read_back_and_a_damaged_file_is_set_aside(shell: testing.TestingShell,
                                                                             tmp_path: Path, capsys: Any) -> None:
    assert baml_cell(shell, classifier("billing")).success
    shell.run_line_magic("baml", "test")
    where = tmp_path / "runs.sqlite3"
    said = shell.run_line_magic("baml", f"runs save {where}")
    assert said.startswith(f"runs kept in {where} from now on (2 so far)")
    shell.user_ns["Classify"]("kept as it runs")

    def written() -> int:
        with sqlite3.connect(where) as db:
            return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    wait_until(lambda: written() == 3, 5, "the call's record written by the writer thread")
    with sqlite3.connect(where) as db:
        assert db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] >= 1
    fresh = RunHistory()
    from baml_magic.notebook._runs_command import load_file

    assert load_file(fresh, str(where)) == f"read 3 runs from {where}"
    assert load_file(fresh, str(where)) == f"read 0 runs from {where}"  # read twice, kept once
    info = repr(shell.run_line_magic("baml", "runs info"))
    assert str(where) in info and "runs kept" in info
    assert shell.run_line_magic("baml", "runs clear Classify") == "forgot 3 runs"
    with pytest.raises(UsageError, match="no runs file"):
        shell.run_line_magic("baml", f"runs load {tmp_path / 'nothing.sqlite3'}")
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_text("not a database")
    shell.run_line_magic("baml", f"runs save {damaged}")
    assert "set aside" in capsys.readouterr().err
    assert any(p.name.startswith("damaged.sqlite3.damaged-") for p in tmp_path.iterdir())


def test_a_version_is_the_function_and_its_client_and_bad_arguments_are_one_line(shell: testing.TestingShell) -> None:
    assert baml_cell(shell, classifier("billing")).success
    before = shell.user_ns["Classify"].version
    assert baml_cell(shell, classifier("billing").replace('model "local"', 'model "local?seed=3"')).success
    assert shell.user_ns["Classify"].version != before  # its client changed
    assert baml_cell(shell, classifier("billing")).success
    assert shell.user_ns["Classify"].version == before  # the same text is the same version
    with pytest.raises(UsageError, match="no version 12 of Classify"):
        shell.run_line_magic("baml", "test --diff 12")
    with pytest.raises(TypeError, match="against"):
        shell.user_ns["Classify"].compare(["x"], against=["v1"])
    with pytest.raises(UsageError, match=r"\(--cli\) keeps none"):
        shell.run_line_magic("baml", "test --cli --diff")


def test_field_diffs_walk_nested_values() -> None:
    assert changed_fields({"a": {"b": [1, 2]}, "c": "x"}, {"a": {"b": [1, 3]}, "c": "x", "d": None}) == \
        [("a.b[1]", 2, 3)]
    assert changed_fields("BILLING", "TECHNICAL") == [("", "BILLING", "TECHNICAL")]
    assert changed_fields({"a": [1]}, {"a": []}) == [("a[0]", 1, None), ("a", None, [])]
    assert changed_fields({"a": {"b": 1}}, None) == [("", {"a": {"b": 1}}, None)]  # an error after: one line
    assert changed_fields(None, None) == []


def _notebook(*cells: str) -> Any:
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def test_in_a_kernel_the_loop_diffs_gates_and_survives_a_restart(llm: Any, tmp_path: Path, run_notebook: Any) -> None:
    from nbclient.exceptions import CellExecutionError

    runs = tmp_path / "runs.sqlite3"
    first = _notebook("%load_ext baml_magic", f"%config BamlMagic.runs_file = {str(runs)!r}",
                      "%%baml\n" + classifier("billing"), "%baml test",
                      "%%baml\n" + classifier("technical"), "%baml test --diff", "Classify.history",
                      "%baml test --fail-on-regression", "print('not reached')")
    with pytest.raises(CellExecutionError) as failed:
        run_notebook(first, tmp_path)
    assert "RegressionError" in str(failed.value)
    cells = first.cells
    diffed = _outputs(cells[5])
    assert "1 better · 1 worse · 0 same" in diffed and "▼ worse" in diffed, diffed[:2000]
    assert "v2 (" in _outputs(cells[6]) and "v1 (" in _outputs(cells[6])
    gate = _outputs(cells[7])
    assert "RegressionError" in gate and "Classify::ChargedTwice [own client]" in gate
    assert "Traceback" not in gate and len([line for line in gate.splitlines() if "Error" in line]) == 1
    assert not cells[8].get("outputs")

    # a new kernel (a restart): the runs come back from the file and the old version is compared against
    second = _notebook("%load_ext baml_magic", f"%config BamlMagic.runs_file = {str(runs)!r}",
                       "%%baml\n" + classifier("technical"), "%baml test --diff 1",
                       "print([v['version'] for v in Classify.history.versions()])", "%baml diff Classify 1")
    run_notebook(second, tmp_path)
    again = _outputs(second.cells[3])
    assert "vs Classify v1 (" in again and "1 better · 1 worse" in again, again[:2000]
    assert "[1, 2]" in _outputs(second.cells[4])
    assert '-  prompt #"Is this a billing' in _outputs(second.cells[5])


def test_two_kernels_share_a_runs_file(tmp_path: Path) -> None:
    """Two stores on one file (as two kernels hold it), writing at once from threads: every record lands once."""
    import threading

    from baml_magic.history._run_store import RunStore
    from baml_magic.history._runs import RunRecord, Version

    where = tmp_path / "shared.sqlite3"
    stores = [RunStore(where), RunStore(where)]
    version = Version("F", "abcd1234abcd1234", "function F", "client C", 1.0)

    def write(store: RunStore, who: int) -> None:
        store.add_version(version)
        for i in range(200):
            store.add(RunRecord("F", version.hash, "call", "C", {"i": i, "who": who}, value=i))

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(store.flush(30) for store in stores)
    versions, records = RunStore(where).read(10_000)
    assert len(versions) == 1 and len(records) == 400
    assert {(r.inputs["who"], r.inputs["i"]) for r in records} == {(w, i) for w in (0, 1) for i in range(200)}


def test_reading_the_history_waits_for_a_record_half_built() -> None:
    """The builder thread has taken the record off the queue but not kept it yet: a reader still sees it."""
    import threading

    from baml_magic.history._runs import RunRecord

    history = RunHistory()
    building, release = threading.Event(), threading.Event()

    def slow_build() -> RunRecord:
        building.set()
        release.wait(10)
        return RunRecord("Classify", "v", "call", None, {"text": "a"}, cost=0.5)

    history.later(slow_build)
    assert building.wait(10), "the builder thread took the record"
    timer = threading.Timer(0.2, release.set)  # the build finishes while the reader is waiting
    timer.start()
    history.settle()
    timer.join()
    assert [record.cost for record in history.records] == [0.5]
