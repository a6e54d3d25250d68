"""From answers to tests (issue #48): ``Fn.last.to_test``, ``%baml runs test`` and ``Fn.tests_from`` write BAML
``test`` blocks that the grid, ``--cli``, the gate and the optimizer run like written ones.

The referee of what is written is BAML's own test runner (``baml-cli test``): every block made here is also
run by it, and its verdicts are compared with the grid's. The offline model answers deterministically and
follows the prompt's words (``classifier`` in tests/test_iterate.py), so verdicts are known in advance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from baml_magic import RegressionError, testing
from baml_magic.evaluation import _baml_tests as baml_tests
from baml_magic.evaluation._literals import expression
from baml_magic.evaluation._made_tests import MadeTestError, block, media_writer
from baml_magic.evaluation._verdict import judge
from baml_magic.sources._test_blocks import MADE_MARK, read_tests
from tests.conftest import baml_cell
from tests.test_first_hour import _outputs
from tests.test_iterate import CLIENT, classifier

SECRET = "sk-made-tests-0123456789abcdef"


def functions_only(leaning: str) -> str:
    """The classifier project without its written tests (the made ones are the only ones)."""
    return classifier(leaning).split("test ChargedTwice")[0]


def _verdicts_of_cli(shell: testing.TestingShell, pattern: str = "") -> dict[str, str]:
    table = shell.run_line_magic("baml", f"test --cli {pattern}".strip())
    return {f"{row[1]}::{row[0]}": row[2] for row in table.rows}


def _verdicts_of_grid(grid: Any) -> dict[str, str]:
    return {o.row: ("pass" if o.verdict == "pass" else "failed") for o in grid.outcomes}


@pytest.mark.slow  # BAML's runner or many calls: seconds
def test_a_kept_answer_becomes_a_test_that_passes_and_gates_a_regression(shell: testing.TestingShell) -> None:
    assert baml_cell(shell, functions_only("billing")).success
    triage = shell.user_ns["Triage"]
    assert triage("I was charged twice").category.value == "BILLING"
    made = triage.last.to_test("t1", expect=["category"])
    assert made.names == ["t1"]
    assert '@@assert(category, {{ this.category == "BILLING" }})' in made.text
    assert "%%baml\ntest t1 {" in repr(made) and "%baml test Triage runs it" in repr(made)
    grid = shell.run_line_magic("baml", "test")
    assert _verdicts_of_grid(grid) == {"Triage::t1": "pass"}
    assert _verdicts_of_cli(shell) == {"Triage::t1": "pass"}
    # the prompt now leans the other way: the category moves, and the gate fails on the made test
    assert baml_cell(shell, functions_only("technical")).success
    with pytest.raises(RegressionError, match=r"Triage::t1 \[own client\]"):
        shell.run_line_magic("baml", "test --fail-on-regression")
    # the same name again is made unique; nothing already there is replaced
    again = shell.user_ns["Triage"]
    again("The app crashes")
    assert again.last.to_test("t1").names == ["t1_2"]
    assert "t1" in shell.user_ns["Triage"]._session.made_tests.tests


HOSTILE = ['say "hi" and \'bye\'', "two\nlines\tand a tab\r", "back\\slash and \\n as written",
           "braces }} and {{ x }}", "a}}}b", "(unbalanced", "émoji 😀 ✓", "", "   spaced   ", "#\"raw-looking\"#",
           "// not a comment", "{ nested { map } }"]


@pytest.mark.slow  # BAML's runner: seconds
def test_hostile_text_is_written_as_baml_reads_it(llm: Any, tmp_path: Path) -> None:
    """Each string written as an arg and as an assert literal: BAML's runner (the referee) and our reader agree."""
    project = CLIENT + 'function Echo(text: string) -> string {\n  client Local\n  prompt #"{{ text }}"#\n}\n'
    tests = "".join(block(f"hostile_{i}", "Echo", {"text": text}, [("same", f"text == {expression(text)}")],
                          media_writer(tmp_path)) for i, text in enumerate(HOSTILE))
    read = read_tests({"t.baml": tests})
    assert [r.args for r in read] == [{"text": text} for text in HOSTILE] and not any(r.problem for r in read)
    assert all(judge("anything", r.args, 1, r.constraints).passed for r in read)
    results = baml_tests.run({"main.baml": project, "t.baml": tests}, [], None, lambda n, line: None)
    failed = [(r.test, r.reason) for r in results if not r.passed]
    assert len(results) == len(HOSTILE) and not failed, failed


@pytest.mark.slow  # BAML's runner: seconds
def test_every_value_of_an_answer_is_asserted_as_baml_reads_it(llm: Any, tmp_path: Path) -> None:
    """Numbers, booleans, null, lists, maps and a class as the whole answer: BAML's runner passes the assert."""
    project = CLIENT + '''
class Shape {
  n int
  x float
  ok bool
  none string?
  tags string[]
  meta map<string, int>
}
function Make(text: string) -> Shape {
  client Local
  prompt #"{{ text }} {{ ctx.output_format }}"#
}
'''
    value = {"n": -3, "x": 1e-05, "ok": True, "none": None, "tags": ["a", 'b"c'], "meta": {"k 1": 2}}
    made = block("shape", "Make", {"text": "t"}, [("kept", f"this == {expression(value)}")], media_writer(tmp_path))
    probe = block("probe", "Make", {"text": "t"}, [("values", " and ".join([
        "1e-05 > 0", f"{expression(value)}.x * 100000 > 0.99", f"{expression(value)}.meta['k 1'] == 2",
        f"{expression(value)}.none == none", f"{expression(value)}.tags[1] == 'b\"c'"]))],
        media_writer(tmp_path))
    results = {r.test: r for r in baml_tests.run({"main.baml": project, "t.baml": made + probe}, [], None,
                                                  lambda n, line: None)}
    assert results["probe"].passed, results["probe"].reason
    # the model's answer is not this value: BAML's runner fails the whole-value assert, as our verdict does
    assert not results["shape"].passed and "kept" in results["shape"].reason
    [read, _] = read_tests({"t.baml": made + probe})
    assert judge(value, read.args, 1, read.constraints).passed


def _rows(triage: Any, n: int) -> list[dict[str, Any]]:
    """``n`` labelled rows: the model's own category for most, the other one for every fifth (those fail)."""
    texts = [f"ticket {i}: {'charged twice' if i % 2 else 'the app crashes'}" for i in range(n)]
    answers = triage.map(texts)
    flip = {"BILLING": "TECHNICAL", "TECHNICAL": "BILLING"}
    return [{"text": t, "category": flip[a.category.value] if i % 5 == 4 else a.category.value, "id": f"case {i}"}
            for i, (t, a) in enumerate(zip(texts, answers, strict=True))]


@pytest.mark.slow  # BAML's runner or many calls: seconds
def test_a_table_becomes_tests_the_grid_and_baml_s_runner_agree_on(shell: testing.TestingShell,
                                                                    tmp_path: Path) -> None:
    import pandas

    assert baml_cell(shell, functions_only("billing")).success
    triage = shell.user_ns["Triage"]
    rows = _rows(triage, 50)
    made = triage.tests_from(pandas.DataFrame(rows), name="id")
    assert len(made) == 50 and made.names[:2] == ["case_0", "case_1"]
    assert "// ... and 47 more" in repr(made)
    grid = shell.run_line_magic("baml", "test Triage")
    shown = _verdicts_of_grid(grid)
    assert list(shown.values()).count("failed") == 10 and len(shown) == 50
    assert _verdicts_of_cli(shell, "Triage") == {k: ("pass" if v == "pass" else "failed") for k, v in shown.items()}
    # written to a file, BAML's runner on that file (with the project) gives the same verdicts
    written = made.write(tmp_path / "triage_tests.baml")
    assert written.read_text().startswith(MADE_MARK)
    results = baml_tests.run({"main.baml": functions_only("billing"), "triage_tests.baml": written.read_text()},
                             [], None, lambda n, line: None)
    assert {f"{r.function}::{r.test}": ("pass" if r.passed else "failed") for r in results} == shown
    with pytest.raises(MadeTestError, match="exists already"):
        made.write(written)


@pytest.mark.slow  # BAML's runner or many calls: seconds
def test_rows_from_files_are_read_as_their_parameter_s_types(shell: testing.TestingShell, tmp_path: Path) -> None:
    import pandas

    assert baml_cell(shell, CLIENT + '''
enum Level {
  LOW
  HIGH
}
class Rated {
  level Level
  stars int
}
function Rate(text: string, stars: int, level: Level) -> Rated {
  client Local
  prompt #"Rate {{ text }} {{ stars }} {{ level }} {{ ctx.output_format }}"#
}
''').success
    rate = shell.user_ns["Rate"]
    (tmp_path / "rows.csv").write_text("text,stars,level,want\nnice,3,HIGH,4\n\"a, b\",1,LOW,\n")
    made = rate.tests_from(tmp_path / "rows.csv", expect={"stars": "want"})
    [first, second] = read_tests({"m.baml": made.text})
    assert first.args == {"text": "nice", "stars": 3, "level": "HIGH"} and second.args["text"] == "a, b"
    assert [c.expression for c in first.constraints] == ["this.stars == 4"] and second.constraints == ()
    (tmp_path / "rows.jsonl").write_text('{"text": "x", "stars": 2, "level": "LOW"}\n')
    assert read_tests({"m.baml": rate.tests_from(str(tmp_path / "rows.jsonl")).text})[0].args["stars"] == 2
    table = pandas.DataFrame([{"text": "y", "stars": 5, "level": "LOW", "level_out": "LOW"}])
    table.to_parquet(tmp_path / "rows.parquet")
    parquet = rate.tests_from(tmp_path / "rows.parquet", expect={"level": "level_out"})
    assert 'this.level == "LOW"' in parquet.text and "stars 5" in parquet.text
    with pytest.raises(MadeTestError, match=r"row 1, column 'stars': 'many' is not a int"):
        rate.tests_from([{"text": "x", "stars": "many", "level": "LOW"}])
    with pytest.raises(MadeTestError, match="no column for Rate's parameter level"):
        rate.tests_from([{"text": "x", "stars": 1}])
    with pytest.raises(MadeTestError, match="expect: no column 'nope'"):
        rate.tests_from([{"text": "x", "stars": 1, "level": "LOW"}], expect=["nope"])
    with pytest.raises(MadeTestError, match="not a dict"):
        rate.tests_from({"text": "x"})
    (tmp_path / "rows.txt").write_text("text\n")
    with pytest.raises(MadeTestError, match=r"a \.csv, \.jsonl"):
        rate.tests_from(tmp_path / "rows.txt")
    with pytest.raises(MadeTestError, match=r"BAML reads only \.baml files"):
        rate.tests_from(tmp_path / "rows.csv").write(tmp_path / "x.txt")


def test_what_can_t_be_a_test_is_one_line_and_nothing_is_kept(shell: testing.TestingShell, monkeypatch: Any) -> None:
    monkeypatch.setenv("MADE_TESTS_KEY", SECRET)
    assert baml_cell(shell, functions_only("billing").replace(
        'model "local"', 'model "local"\n    api_key env.MADE_TESTS_KEY', 1)).success
    triage, classify = shell.user_ns["Triage"], shell.user_ns["Classify"]
    triage(f"my key is {SECRET}")
    with pytest.raises(MadeTestError, match="hold a secret value") as secret:
        triage.last.to_test("leak")
    assert SECRET not in str(secret.value)
    classify("The app crashes")
    with pytest.raises(MadeTestError, match="not a class"):
        classify.last.to_test("c", expect=["category"])
    with pytest.raises(MadeTestError, match="has no field 'nope'"):
        triage("I was charged twice") and triage.last.to_test("t", expect=["nope"])
    with pytest.raises(MadeTestError, match="an expression of BAML's Jinja"):
        triage.last.to_test("t", expect="{{ }}")
    assert len(triage._session.made_tests) == 0
    own = triage.last.to_test("own", expect=["category", "this.summary|length > 0"])
    assert "@@assert({{ this.summary|length > 0 }})" in own.text
    with pytest.raises(MadeTestError, match="defined in a cell"):
        own.write()


def test_a_kept_run_becomes_a_test_from_the_runs_command(shell: testing.TestingShell) -> None:
    assert baml_cell(shell, functions_only("billing")).success
    triage = shell.user_ns["Triage"]
    triage("first")
    triage("second")
    made = shell.run_line_magic("baml", "runs test Triage 2 from_history --expect category")
    assert made.names == ["from_history"] and 'text "first"' in made.text and "this.summary" not in made.text
    record = triage.history.records[0]
    by_id = shell.run_line_magic("baml", f"runs test Triage {record.id[:8]}")
    assert 'text "second"' in by_id.text and "this.summary ==" in by_id.text
    with pytest.raises(UsageError, match="no run 9 of Triage: 1 to 2"):
        shell.run_line_magic("baml", "runs test Triage 9")
    with pytest.raises(UsageError, match="%baml runs test FUNCTION RUN"):
        shell.run_line_magic("baml", "runs test Triage")
    assert set(shell.run_line_magic("baml", "test").rows) >= {"Triage::from_history"}


def test_a_written_file_of_made_tests_loads_outside_the_functions_compile(shell: testing.TestingShell,
                                                                         tmp_path: Path) -> None:
    src = tmp_path / "baml_src"
    src.mkdir()
    (src / "main.baml").write_text(functions_only("billing"))
    shell.run_line_magic("baml", f"load {src}")
    triage = shell.user_ns["Triage"]
    triage("I was charged twice")
    made = triage.last.to_test("kept", expect="category")
    path = made.write()
    assert path == src / "Triage_tests.baml" and made.write() == src / "Triage_tests_2.baml"
    # a made file naming a function the project lacks: BAML's compile would refuse it, the load does not see it
    (src / "Triage_tests_2.baml").write_text(MADE_MARK + "\ntest orphan {\n  functions [Gone]\n  args {\n"
                                             "    text \"x\"\n  }\n}\n")
    shell.run_line_magic("baml", f"load {src}")
    grid = shell.run_line_magic("baml", "test")
    assert _verdicts_of_grid(grid)["Triage::kept"] == "pass"
    assert set(grid.rows) == {"Triage::kept", "Gone::orphan"}, "the file's test, not twice"


@pytest.mark.slow  # BAML's runner or many calls: seconds
def test_many_made_tests_run_in_chunks_in_baml_s_runner(shell: testing.TestingShell, monkeypatch: Any) -> None:
    monkeypatch.setattr(baml_tests, "CHUNK", 2)
    assert baml_cell(shell, classifier("billing")).success
    shell.user_ns["Classify"].tests_from([{"text": f"charged {i}", "expected": "BILLING"} for i in range(5)])
    verdicts = _verdicts_of_cli(shell)
    assert sorted(verdicts) == sorted(["Classify::ChargedTwice", "Classify::AppCrashes"]
                                      + [f"Classify::row_{i}" for i in range(1, 6)]), "each test once"
    assert all(verdicts[f"Classify::row_{i}"] == "pass" for i in range(1, 6))


@pytest.mark.slow  # BAML's optimizer: seconds in process
def test_the_optimizer_scores_prompts_on_made_tests(shell: testing.TestingShell, tmp_path: Path) -> None:
    assert baml_cell(shell, functions_only("billing")).success
    shell.user_ns["Classify"].tests_from([{"text": f"charged twice {i}", "expected": "BILLING"} for i in range(3)])
    result = shell.run_line_magic("baml", f"optimize Classify --trials 1 --max-evals 6 --folder {tmp_path}")
    assert result.status == "done" and result.candidates[0].tests_total == 3
    assert result.candidates[0].pass_rate == 1.0


def _notebook(*cells: str) -> Any:
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def test_in_a_kernel_a_kept_answer_is_a_test_and_a_table_is_fifty(llm: Any, tmp_path: Path,
                                                                  run_notebook: Any) -> None:
    from nbclient.exceptions import CellExecutionError

    nb = _notebook(
        "%load_ext baml_magic",
        "%%baml\n" + functions_only("billing"),
        'Triage("I was charged twice").category',
        'Triage.last.to_test("t1", expect=["category"])',
        "%baml test",
        "import pandas\nrows = [{'text': f'charged twice {i}', 'category': 'BILLING' if i % 5 else 'TECHNICAL'} "
        "for i in range(50)]\nmade = Triage.tests_from(pandas.DataFrame(rows))\nlen(made)",
        "grid = %baml test Triage::row_*\ncli = %baml test --cli Triage\n"
        "print(sum(o.verdict == 'pass' for o in grid.outcomes), sum(r[2] == 'pass' for r in cli.rows))",
        "%%baml\n" + functions_only("technical"),
        "%baml test t1 --fail-on-regression",
        "print('not reached')")
    with pytest.raises(CellExecutionError) as failed:
        run_notebook(nb, tmp_path)
    assert "RegressionError" in str(failed.value)
    cells = nb.cells
    assert "BILLING" in _outputs(cells[2])
    assert "test t1 {" in _outputs(cells[3]) and "this.category ==" in _outputs(cells[3])
    assert "1 passed" in _outputs(cells[4]) or "1/1 pass" in _outputs(cells[4]), _outputs(cells[4])[:1500]
    assert "50" in _outputs(cells[5])
    assert _outputs(cells[6]).split()[-2:] == ["40", "41"], _outputs(cells[6])[-500:]
    gate = _outputs(cells[8])
    assert "Triage::t1 [own client]" in gate and "Traceback" not in gate
    assert not cells[9].get("outputs")


@pytest.mark.slow  # BAML's runner: seconds
def test_media_inputs_are_written_as_files_or_urls(shell: testing.TestingShell, tmp_path: Path,
                                                   monkeypatch: Any) -> None:
    from tests.test_media import PNG

    monkeypatch.chdir(tmp_path)
    assert baml_cell(shell, CLIENT + '''
function Describe(picture: image) -> string {
  client Local
  prompt #"Describe {{ picture }}"#
}
''').success
    describe = shell.user_ns["Describe"]
    (tmp_path / "receipt.png").write_bytes(PNG)
    describe(tmp_path / "receipt.png")
    made = describe.last.to_test("pic", expect="this|length > 0")
    [written] = list((tmp_path / "baml_test_media").iterdir())
    assert written.read_bytes() == PNG and f'file "baml_test_media/{written.name}"' in made.text
    assert "base64" not in made.text
    describe.tests_from([{"picture": "https://example.com/receipt.png"}], name="remote")
    assert '{ url "https://example.com/receipt.png" }' in describe._session.made_tests.tests["remote_1"].text
    # BAML's runner reads the file the test names, from the notebook's folder
    verdicts = _verdicts_of_cli(shell)
    assert verdicts["Describe::pic"] == "pass", verdicts
