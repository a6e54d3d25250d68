"""Issue #45, the fourth hostile round: the runs file, the diffs and the optimizer under hostile input and faults.

Each case is what a user meets, in a real kernel where they would see it: one line, nothing lost, a file that is
not ours never touched, no secret on disk or on screen.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest

from baml_magic.testing import wait_until
from tests.conftest import CLIENT, STORY, Execution, Kernel, baml_cell


def _one_line_error(execution: Execution) -> str:
    errors = execution.of_type("error")
    assert errors, execution.text
    shown = "\n".join(errors[0]["content"]["traceback"])
    assert "\n" not in shown and "Traceback" not in shown, shown
    return shown


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def rk(llm, tmp_path_factory: pytest.TempPathFactory) -> Kernel:
    """A real kernel with the story project and a few runs kept."""
    kernel = Kernel(tmp_path_factory.mktemp("runs_kernel"))
    kernel.ok("%load_ext baml_magic\n%config BamlMagic.display = 'none'")
    kernel.ok("%%baml\n" + CLIENT + STORY)
    kernel.ok("for t in ['a', 'b', 'c']:\n    GenerateStory(t)")
    yield kernel
    kernel.shutdown()


def _foreign(path: Path, statements: list[str]) -> Path:
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()
    return path


FOREIGN = {
    "another application's": ["CREATE TABLE versions (app TEXT, major INT)", "INSERT INTO versions VALUES ('x', 3)",
                              "CREATE TABLE users (name TEXT)"],
    "a runs table of other columns": ["CREATE TABLE runs (id TEXT, payload BLOB)",
                                      "INSERT INTO runs VALUES ('1', x'00')"],
    "ours, of a newer schema": ["CREATE TABLE baml_magic (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                                "INSERT INTO baml_magic VALUES ('kind', 'runs file'), ('schema', '2')",
                                "CREATE TABLE runs (id TEXT PRIMARY KEY, function TEXT, version TEXT, at REAL, "
                                "record TEXT, extra TEXT)"],
}


@pytest.mark.parametrize("kind", list(FOREIGN))
def test_a_file_that_is_not_ours_is_refused_in_one_line_and_never_touched(rk: Kernel, tmp_path: Path,
                                                                         kind: str) -> None:
    path = _foreign(tmp_path / "other.sqlite3", FOREIGN[kind])
    before = _digest(path)
    for command in (f"%baml runs save {path}", f"%baml runs load {path}", f"%config BamlMagic.runs_file = '{path}'"):
        execution = rk.run(command)
        said = execution.text
        assert "is not a runs file of baml_magic" in said or "newer baml_magic" in said, (command, said)
        assert "Traceback" not in said and said.count("\n") <= 1, said
    assert _digest(path) == before and not Path(f"{path}-wal").exists(), "the file is exactly as it was"
    assert "3" in rk.ok("print(len(GenerateStory.history))").printed, "the runs kept in the kernel are all there"


@pytest.mark.slow  # seconds in process (measured)
def test_a_write_the_disk_refuses_is_said_once_kept_and_retried(shell, llm, tmp_path: Path, capsys,
                                                                monkeypatch) -> None:
    from baml_magic.history import _run_store

    monkeypatch.setattr(_run_store, "RETRY_SECONDS", 0.2)
    baml_cell(shell, CLIENT + STORY)
    path = tmp_path / "runs.sqlite3"
    shell.run_line_magic("baml", f"runs save {path}")
    store = shell.user_ns["GenerateStory"]._session.history.store
    store.flush(5)
    with store._lock:  # the disk fills up: sqlite answers SQLITE_FULL ("database or disk is full")
        pages = store._open().execute("PRAGMA page_count").fetchone()[0]
        store._open().execute(f"PRAGMA max_page_count = {pages}")
    fn = shell.user_ns["GenerateStory"]
    for topic in range(12):
        fn(f"topic {topic} " + "x" * 2000)
    shell.user_ns["GenerateStory"]._session.history.settle()
    wait_until(lambda: store.problem is not None, what="the refused write")
    shell.run_cell("1")  # the next cell's end says it, once
    shell.run_cell("2")
    said = capsys.readouterr().err
    assert said.count("can't write runs to") == 1 and "disk is full" in said and "kept in this kernel" in said, said
    with store._lock:
        store._open().execute("PRAGMA max_page_count = 1073741823")  # room again
    assert store.flush(10), "the kept runs are written once the file takes them"
    shell.run_cell("3")
    assert "written to" in capsys.readouterr().err
    rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert rows == len(fn.history), (rows, len(fn.history))


def test_interrupting_a_clear_that_waits_for_another_kernel_is_one_line(rk: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    rk.ok(f"%baml runs save {path}")
    rk.ok("GenerateStory('d')")
    kept = rk.ok("print(len(GenerateStory.history))").printed.strip()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another kernel holds the file
    try:
        msg_id, execution = rk.start("%baml runs clear")
        time.sleep(0.5)  # nothing to see from outside while it waits for the lock: give it time to be waiting
        rk.interrupt()
        rk.collect(msg_id, execution, timeout=10)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    line = _one_line_error(execution)
    assert "KeyboardInterrupt" in line and "nothing was cleared" in line, line
    assert rk.ok("print(len(GenerateStory.history))").printed.strip() == kept
    rk.ok("%config BamlMagic.runs_file = ''")


def test_the_runs_file_s_own_marker_says_what_it_is(shell, llm, tmp_path: Path) -> None:
    baml_cell(shell, CLIENT + STORY)
    shell.user_ns["GenerateStory"]("owls")
    path = tmp_path / "runs.sqlite3"
    shell.run_line_magic("baml", f"runs save {path}")
    shell.user_ns["GenerateStory"]._session.history.store.flush(5)
    marker = dict(sqlite3.connect(path).execute("SELECT key, value FROM baml_magic").fetchall())
    assert marker == {"kind": "runs file", "schema": "1"}
    assert json.loads(sqlite3.connect(path).execute("SELECT record FROM runs").fetchone()[0])["function"] == \
        "GenerateStory"


LITERAL_KEY, HEADER, PASSWORD = "sk-literal-0123456789abcdef", "hdr-literal-secret-42", "pa55word-literal"


def test_secrets_written_into_a_client_block_reach_no_file_and_no_screen(shell, llm, tmp_path: Path) -> None:
    from baml_magic.optimize._runner import scrub_folder

    url = llm.base_url.replace("http://", f"http://ann:{PASSWORD}@")
    client = f'''
client<llm> Fast {{
  provider "openai-generic"
  options {{
    base_url "{url}"
    model "local"
    api_key "{LITERAL_KEY}"
    headers {{
      "X-Team-Token" "{HEADER}"
    }}
  }}
}}
'''
    path = tmp_path / "runs.sqlite3"
    shell.run_line_magic("baml", f"runs save {path}")
    for prompt in ("Write a short story about", "Tell a tale of"):
        baml_cell(shell, client + STORY.replace("Write a short story about", prompt))
        shell.user_ns["GenerateStory"]("owls")
    fn = shell.user_ns["GenerateStory"]
    fn._session.history.store.flush(5)
    shown = [repr(shell.run_line_magic("baml", "diff GenerateStory")), repr(fn.history),
             repr(fn.request("owls")), fn.request("owls").as_curl()]
    on_disk = path.read_bytes().decode("latin-1") + Path(f"{path}-wal").read_bytes().decode("latin-1") \
        if Path(f"{path}-wal").exists() else path.read_bytes().decode("latin-1")
    for text in [*shown, on_disk]:
        for secret in (LITERAL_KEY, HEADER, PASSWORD):
            assert secret not in text, (secret, text[:300])
    assert "Tell a tale of" in shown[0], "the diff still shows the prompt's change"
    folder = tmp_path / "optimize"
    (folder / "candidates").mkdir(parents=True)
    (folder / "candidates" / "01_reflection.baml").write_text(f"// the model said {LITERAL_KEY}\n")
    (folder / "baml_src.baml").write_text(client)
    assert scrub_folder(folder) == 2
    assert not any(s in p.read_text() for p in folder.rglob("*.baml") for s in (LITERAL_KEY, HEADER, PASSWORD))


CLASSIFY = CLIENT + '''
enum Category {
  BILLING
  TECHNICAL
}
function Classify(text: string) -> Category {
  client Fast
  prompt #"Is this a billing question? {{ text }}
  {{ ctx.output_format }}"#
}
test ChargedTwice {
  functions [Classify]
  args { text "I was charged twice" }
  @@assert({{ this == "BILLING" }})
}
'''


def _one_line(call) -> str:
    with pytest.raises(BaseException) as raised:  # an interrupt too
        call()
    shown = raised.value._render_traceback_()
    assert len(shown) == 1 and "\n" not in shown[0] and "Traceback" not in shown[0], shown
    return shown[0]


def test_bad_arguments_of_compare_optimize_and_restore_are_one_line_before_any_work(shell, llm, tmp_path) -> None:
    baml_cell(shell, CLASSIFY)
    fn = shell.user_ns["Classify"]
    fn("x")
    llm.reset()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for call, says in [(lambda: fn.compare(["x"], against=True), "version number"),
                       (lambda: fn.compare(["x"], against=-1), "numbered from 1"),
                       (lambda: fn.compare(["x"], against=0), "numbered from 1"),
                       (lambda: fn.compare(["x"], against="nope"), "no version nope"),
                       (lambda: fn.optimize(weights=5), "weights must be text"),
                       (lambda: fn.optimize(tests="Classify::*"), "write ['Classify::*']"),
                       (lambda: fn.optimize(folder=str(blocker / "under")), "is a file, not a folder"),
                       (lambda: fn.restore(True), "version number")]:
        assert says in _one_line(call)
    assert not llm.requests(), "no argument of ours sent a request"


def test_an_edited_candidate_file_is_one_line_naming_it(shell, llm, tmp_path) -> None:
    from baml_magic.optimize._result import OptimizeResult

    run = tmp_path / "run"
    (run / "candidates").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"function": "Classify"}))
    (run / "candidates" / "00_candidate.json").write_text(json.dumps({"id": "zero", "function": {}}))
    baml_cell(shell, CLASSIFY)
    line = _one_line(lambda: shell.run_line_magic("baml", f"optimize --open {tmp_path}"))
    assert "00_candidate.json is not a candidate file" in line, line
    assert isinstance(OptimizeResult, type)


@pytest.mark.slow  # seconds in process (measured)
def test_an_interrupted_set_up_is_one_line_and_a_silent_reflection_model_is_capped(shell, llm, silent,
                                                                                  monkeypatch, tmp_path) -> None:
    from baml_magic.notebook import _optimize_command as optimize_command
    from baml_magic.optimize import _runner

    failing = CLASSIFY.replace('this == "BILLING"', 'this == "TECHNICAL"')  # so the optimizer must reflect
    baml_cell(shell, failing + f'''
client<llm> Silent {{
  provider "openai-generic"
  options {{
    base_url "{silent}/v1"
    model "never"
  }}
}}
''')
    fn = shell.user_ns["Classify"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(optimize_command, "prepare_folder", interrupted)  # the optimizer's setting-up step
        line = _one_line(lambda: fn.optimize(trials=1, max_evals=2, folder=str(tmp_path / "a")))
    assert "KeyboardInterrupt" in line and "setting up" in line, line
    monkeypatch.setattr(_runner, "STALL_SECONDS", 3.0)
    started = time.monotonic()
    line = _one_line(lambda: fn.optimize(trials=2, max_evals=12, reflection="Silent", folder=str(tmp_path / "b")))
    assert "said and wrote nothing for 3 s" in line and time.monotonic() - started < 60, line
    assert fn.last_optimize.status == "error"


@pytest.mark.slow  # seconds in process (measured)
def test_a_function_named_like_a_hash_is_a_function_and_pass_to_error_is_a_regression(shell, llm) -> None:
    from baml_magic import RegressionError

    facade = CLASSIFY.replace("Classify", "Facade")
    baml_cell(shell, facade)
    shell.run_line_magic("baml", "test")
    grid = shell.run_line_magic("baml", "test --diff Facade")  # all hex letters, and a function: a pattern
    assert grid.rows and grid.diff is not None
    broken = facade.replace("function Facade(text: string) -> Category {\n  client Fast",
                            "client<llm> Gone {\n  provider \"openai-generic\"\n  options {\n"
                            "    base_url \"http://127.0.0.1:9/v1\"\n    model \"x\"\n  }\n}\n"
                            "function Facade(text: string) -> Category {\n  client Gone")
    assert "client Gone" in broken
    baml_cell(shell, broken)  # the edit switches the client; the test that passed now errors
    with pytest.raises(RegressionError, match="Facade::ChargedTwice"):
        shell.run_line_magic("baml", "test --fail-on-regression")
