"""Fault injection: bad input to every public callable and magic, broken environments, leaked keys (issue #13).

Every case must end at once with a clear one-line error (or a fallback said in one line), lose nothing
the user had, and leave the session usable.
"""

from __future__ import annotations

import _thread
import json
import math
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import IPython
import nbformat
import pytest
from IPython.core.error import UsageError
from nbconvert import HTMLExporter

from baml_magic import BamlSourceError, UnknownClientError
from baml_magic._errors import RetryWaitTooLong
from tests.conftest import CLIENT, STORY, baml_cell

KEY = "zq-test-9f8e7d6c5b4a3f2e1d0c"  # a secret under a name that does not look secret
ECHO = """
client<llm> Echo {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local?fault=http_401_echo"
    api_key env.MY_LLM_CREDS
  }
}
function Leaky(topic: string) -> string {
  client Echo
  prompt #"About {{ topic }}"#
}
"""


def _story(shell):
    baml_cell(shell, CLIENT + STORY)
    return shell.user_ns["GenerateStory"]


def _one_line(error: BaseException) -> str:
    lines = error._render_traceback_()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    return str(lines[0])


# -- 1. arguments of ours are checked before any work starts --------------------------------------


@pytest.mark.parametrize("timeout", ["abc", None.__class__, [], True])
def test_a_non_numeric_timeout_is_a_type_error_at_once_everywhere(shell, llm, timeout) -> None:
    fn = _story(shell)
    llm.reset()
    calls = [lambda: fn("x", timeout=timeout), lambda: fn.start("x", timeout=timeout),
             lambda: fn.with_options(timeout=timeout), lambda: fn.stream("x", timeout=timeout),
             lambda: fn.map(["x"], timeout=timeout)]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(TypeError, match="timeout must be a number of seconds") as caught:
            call()
        assert time.monotonic() - started < 1.0
        assert "timeout" in _one_line(caught.value)
    assert llm.requests() == [], "nothing was sent"
    assert fn("still works").title


@pytest.mark.parametrize("timeout", [-1, 0, math.nan, math.inf])
def test_a_timeout_that_is_no_deadline_is_a_value_error(shell, timeout) -> None:
    fn = _story(shell)
    with pytest.raises(ValueError, match="positive, finite"):
        fn("x", timeout=timeout)
    with pytest.raises(ValueError, match="positive, finite"):
        fn.with_options(timeout=timeout)


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((), {}, "missing a required argument: 'prompt'"),
    (("a", "b"), {}, "too many positional arguments"),
    ((), {"promt": "x"}, "did you mean 'prompt'"),
    ((3,), {}, "argument 'prompt' must be str"),
])
def test_wrong_arguments_fail_in_one_line_for_every_calling_style(shell, llm, args, kwargs, match) -> None:
    fn = _story(shell)
    llm.reset()
    for style in (fn, fn.stream, fn.start, fn.prompt, fn.request, fn.astream):
        with pytest.raises(TypeError, match=match) as caught:
            style(*args, **kwargs)
        assert match.split("'")[0] in _one_line(caught.value)
    assert llm.requests() == []
    assert fn.last is None or fn.last.done, "no run is left streaming"


def test_bad_map_options_are_value_errors(shell) -> None:
    fn = _story(shell)
    with pytest.raises(ValueError, match="concurrency"):
        fn.map(["x"], concurrency=0)
    with pytest.raises(ValueError, match="on_error"):
        fn.map(["x"], on_error="ignore")  # type: ignore[arg-type]


# -- 2. secrets by value -----------------------------------------------------------------------------


def test_a_key_under_any_name_is_scrubbed_from_errors_views_and_requests(shell, monkeypatch) -> None:
    monkeypatch.setenv("MY_LLM_CREDS", KEY)
    baml_cell(shell, ECHO)
    leaky = shell.user_ns["Leaky"]
    with pytest.raises(Exception) as caught:
        leaky("otters")
    texts = [str(caught.value), repr(caught.value.args), leaky.last.error_message or "",
             repr(leaky.request("x")), leaky.request("x").as_curl(), "".join(caught.value._render_traceback_())]
    assert all(KEY not in t for t in texts), [t for t in texts if KEY in t]
    assert "[redacted]" in str(caught.value), "the provider did echo it: the scrub is what removed it"


def test_an_executed_notebook_with_keys_under_any_names_holds_none_of_them(llm, tmp_path: Path, run_notebook) -> None:
    """Every view, error, request display and export of a notebook run with nbclient: grep for the values."""
    keys = {"MY_LLM_CREDS": KEY, "TEAM_PASSPHRASE_X": "pp-" + KEY[::-1], "PLAIN": "plain-" + KEY[:12] + "-v"}
    header_value = "hv-" + KEY[5:20]
    cells = [
        "%load_ext baml_magic",
        "%%baml\n" + ECHO + f"""
client<llm> Headers {{
  provider "openai-generic"
  options {{
    base_url env.LOCAL_LLM_BASE_URL
    model "local?fault=http_401_echo"
    api_key env.TEAM_PASSPHRASE_X
    headers {{
      "X-Custom-Token" env.PLAIN
      "X-Literal" "{header_value}"
    }}
  }}
}}
function Leaky2(topic: string) -> string {{
  client Headers
  prompt #"About {{{{ topic }}}}"#
}}
""",
        "Leaky('otters')",
        "Leaky2('otters')",
        "Leaky2.request('x')",
        "print(Leaky2.request('x').as_curl())",
        "Leaky2.prompt('x')",
        "h = Leaky2.start('y')\nh.wait_view(10)\nh",
        "Leaky2.map(['a', 'b'], on_error='return')",
        "print(Leaky.last.error_message, Leaky2.last.error_message)",
        "%baml usage",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = {**os.environ, **keys}
    old = dict(os.environ)
    os.environ.update(env)
    try:
        run_notebook(nb, tmp_path, allow_errors=True)
    finally:
        os.environ.clear()
        os.environ.update(old)
    saved = tmp_path / "executed.ipynb"
    nbformat.write(nb, saved)
    html, _ = HTMLExporter().from_notebook_node(nb)
    everything = saved.read_text() + html
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) >= 2, "the echoing provider failed the calls"
    assert "[redacted]" in everything
    for name, value in keys.items():
        assert value not in everything, f"{name}'s value leaked"
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert header_value not in outputs, "a header value written in the cell shows only in the cell's own source"
    assert "Stack backtrace" not in everything


# -- 3. a cache that can't be used ---------------------------------------------------------------------


def _fresh_shell_compiles(cache: str, llm) -> subprocess.CompletedProcess[str]:
    code = ("import sys\nfrom baml_magic.testing import TestingShell, CLIENT, STORY\n"
            "sh = TestingShell.instance(); sh.run_line_magic('load_ext', 'baml_magic')\n"
            "sh.run_line_magic('config', \"BamlMagic.display = 'none'\")\n"
            "try:\n"
            "    sh.run_cell('%%baml\\n' + CLIENT + STORY)\n"
            "    print('TITLE', sh.user_ns['GenerateStory']('x').title)\n"
            "except Exception as exc:\n"
            "    print('ERROR', type(exc).__name__, exc, file=sys.stderr)\n")
    # The private cache it falls back to is made under TMPDIR: inside pytest's temporary folders, cleaned by pytest.
    scratch = Path(cache).parent.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "BAML_MAGIC_CACHE": cache, "LOCAL_LLM_BASE_URL": llm.base_url, "TMPDIR": str(scratch)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


@pytest.mark.slow  # measured over a second
def test_a_read_only_cache_falls_back_to_a_private_one(llm, tmp_path: Path) -> None:
    cache = tmp_path / "ro"
    cache.mkdir()
    if os.geteuid() == 0:  # root writes through permissions: a read-only file system stops it
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(cache)],
                                 capture_output=True, check=False)
        if mounted.returncode:
            pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    else:
        cache.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        done = _fresh_shell_compiles(str(cache), llm)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(cache)], check=False)
    assert "TITLE" in done.stdout, done.stderr[-2000:]
    assert "cannot write the cache" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow  # measured over a second
def test_an_impossible_cache_path_falls_back_to_a_private_one(llm, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    done = _fresh_shell_compiles(str(blocker / "cache"), llm)
    assert "TITLE" in done.stdout, done.stderr[-2000:]
    warning = [line for line in done.stderr.splitlines() if "cannot write the cache" in line]
    assert len(warning) == 1 and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_corrupted_cached_generation_is_made_again(llm, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert "TITLE" in _fresh_shell_compiles(str(cache), llm).stdout
    for types_py in cache.rglob("types.py"):
        types_py.write_text("this is not python (\n")
    done = _fresh_shell_compiles(str(cache), llm)
    assert "TITLE" in done.stdout, done.stderr[-2000:]


@pytest.mark.slow  # measured over a second
def test_a_full_disk_says_so(llm, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(tiny)], capture_output=True,
                             check=False)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        (tiny / "filler").write_bytes(b"\0" * 40_000)
        done = _fresh_shell_compiles(str(tiny / "cache"), llm)
        assert "ERROR BamlCompileError" in done.stderr and "no space left on the disk" in done.stderr, \
            done.stderr[-2000:]
        assert "Traceback" not in done.stderr
    finally:
        subprocess.run(["umount", str(tiny)], check=False)


# -- 4. waits have caps -------------------------------------------------------------------------------


def test_a_huge_retry_after_fails_the_item_instead_of_waiting(shell, llm) -> None:
    baml_cell(shell, CLIENT.replace('model "local"', 'model "local?fault=http_429&retry_after=100000"')
              + STORY)
    started = time.monotonic()
    results = shell.user_ns["GenerateStory"].map(["a", "b"], on_error="return")
    assert time.monotonic() - started < 10
    assert all(isinstance(r, RetryWaitTooLong) for r in results)
    assert "27.8 h" in str(results[0]) and "max_retry_wait=60" in str(results[0])  # 100000 s, as people read it
    shell.run_line_magic("config", "BamlMagic.max_retry_wait = 200000")
    assert shell.magics_manager.registry["BamlMagic"].max_retry_wait == 200000


# -- 5. clients that can't work ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["foo/bar/baz", "nope", "openai/", "vertex-ai/gemini"])
def test_clients_that_cannot_work_are_refused_at_once(shell, name) -> None:
    fn = _story(shell)
    with pytest.raises(UnknownClientError) as caught:
        shell.run_line_magic("baml", f"client {name}")
    with pytest.raises(UnknownClientError):
        fn.with_options(client=name)
    assert "Stack backtrace" not in str(caught.value) and "\n" not in str(caught.value)
    assert shell.magics_manager.registry["BamlMagic"].session.client_override is None
    assert fn("still works").title


# -- 6. the smaller ones ------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["load 'x", "list --verbose", "frobnicate", "client a b", "test --what",
                                  "playground", "load ./typo_dir_that_is_not_there"])
def test_bad_magic_lines_are_usage_errors(shell, line) -> None:
    _story(shell)
    with pytest.raises(UsageError):
        shell.run_line_magic("baml", line)
    assert shell.user_ns["GenerateStory"]("still works").title


def test_a_mistyped_folder_is_named_as_such(shell, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no baml_src here
    with pytest.raises(UsageError, match="no BAML folder at typo_dir"):
        shell.run_line_magic("baml", "load typo_dir")


def test_a_cell_magic_with_flags_is_a_usage_error(shell) -> None:
    for line in ("--frobnicate", "--engine v2", "--engine"):
        with pytest.raises(UsageError, match=r"takes only --engine v0\|v1"):
            shell.run_cell_magic("baml", line, CLIENT + STORY)
    assert "GenerateStory" not in shell.user_ns, "nothing was compiled"


def test_a_latin1_file_names_itself(shell, tmp_path: Path) -> None:
    folder = tmp_path / "baml_src"
    folder.mkdir()
    (folder / "bad.baml").write_bytes("class Caf\xe9 {\n  x int\n}\n".encode("latin-1"))
    with pytest.raises(BamlSourceError, match=r"bad\.baml is not UTF-8 .*byte 0xe9"):
        shell.run_line_magic("baml", f"load {folder}")


def test_loading_named_functions_says_which_others_are_no_longer_bound(shell, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "baml_src"
    folder.mkdir()
    (folder / "f.baml").write_text(CLIENT + STORY + STORY.replace("GenerateStory", "Other").replace(
        "class Story {\n  title string\n  body string\n}", ""))
    shell.run_line_magic("config", "BamlMagic.display = 'text'")
    shell.run_line_magic("baml", f"load {folder}")
    assert {"GenerateStory", "Other"} <= set(shell.user_ns)
    shell.run_line_magic("baml", f"load {folder} GenerateStory")
    assert "no longer bound (not named): Other" in capsys.readouterr().out
    assert "Other" not in shell.user_ns and "GenerateStory" in shell.user_ns


def test_a_users_variable_is_never_overwritten(shell, capsys) -> None:
    shell.user_ns["GenerateStory"] = "my precious data"
    shell.run_line_magic("config", "BamlMagic.display = 'text'")
    baml_cell(shell, CLIENT + STORY)
    assert shell.user_ns["GenerateStory"] == "my precious data"
    assert "not bound: GenerateStory (a variable of yours has that name" in capsys.readouterr().out
    shell.run_line_magic("unload_ext", "baml_magic")
    assert shell.user_ns["GenerateStory"] == "my precious data", "unloading keeps it too"
    shell.run_line_magic("load_ext", "baml_magic")


def test_local_llm_on_a_busy_port_says_so_in_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "baml_magic.local_llm", "--port", str(port)],
                              capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"local_llm: cannot listen on 127.0.0.1:{port}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_interrupting_a_background_result_is_one_line_and_leaves_it_running(shell) -> None:
    baml_cell(shell, CLIENT.replace('model "local"', 'model "local?tps=10&words=40"') + STORY)
    handle = shell.user_ns["GenerateStory"].start("x")
    threading.Timer(0.3, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt) as caught:
        handle.result()
    assert "still running" in _one_line(caught.value)
    assert not handle.done
    handle.cancel()
    assert handle.status == "cancelled"


@pytest.mark.parametrize(("fault", "says", "never"), [
    ("malformed", "", "HTTP 2"),
    ("disconnect&after=3", "the stream ended before the model finished", "Missing required field"),
])
def test_stream_faults_read_as_what_happened(shell, fault, says, never) -> None:
    baml_cell(shell, CLIENT.replace('model "local"', f'model "local?fault={fault}&words=30"') + STORY)
    fn = shell.user_ns["GenerateStory"]
    with pytest.raises(Exception):  # noqa: B017 - BAML's own error types
        fn("x")
    message = fn.last.error_message or ""
    assert says in message and never not in message, message


def test_no_colour_codes_when_ipython_is_told_no_colours(shell) -> None:
    before = shell.colors
    shell.colors = "nocolor" if IPython.version_info >= (9,) else "NoColor"
    try:
        with pytest.raises(UsageError):
            shell.run_line_magic("baml", "frobnicate")
        with pytest.raises(UnknownClientError) as caught:
            _story(shell).with_options(client="nope")
        assert "\x1b[" not in "".join(caught.value._render_traceback_())
    finally:
        shell.colors = before


@pytest.mark.slow
def test_history_is_bounded_and_usage_totals_stay_right(shell) -> None:
    shell.run_line_magic("config", "BamlMagic.history = 5")
    fn = _story(shell)
    for i in range(8):
        fn(f"story {i}")
    session = shell.magics_manager.registry["BamlMagic"].session
    assert len(session.runs) == 5
    table = shell.run_line_magic("baml", "usage")
    row = next(r for r in table.rows if r[0] == "GenerateStory")
    assert row[1] == "8", "the totals count every call"
    assert fn.last is session.runs[-1]


def test_fault_table_covers_every_public_callable(shell) -> None:
    """Every public callable of a bound function rejects junk at once, with TypeError or ValueError."""
    fn = _story(shell)
    junk = [object(), {"no": "such"}, b"\xff", float("nan")]
    for value in junk:
        for call in (lambda v: fn(v), lambda v: fn.stream(v), lambda v: fn.start(v), lambda v: fn.prompt(v),
                     lambda v: fn.request(v), lambda v: fn.map([v], on_error="raise"),
                     lambda v: fn.with_options(client=v), lambda v: fn.with_options(timeout=v)):
            started = time.monotonic()
            with pytest.raises((TypeError, ValueError, UnknownClientError)):
                call(value)
            assert time.monotonic() - started < 2
    assert json.dumps([r.status for r in shell.magics_manager.registry["BamlMagic"].session.runs if not r.done]) \
        == "[]", "nothing is left running"


def test_in_a_real_kernel_each_case_ends_at_once_in_one_line(kernel) -> None:
    kernel.ok("%%baml\n" + CLIENT + STORY)
    cases = [("GenerateStory('x', timeout='abc')", "TypeError"), ("GenerateStory(3)", "TypeError"),
             ("GenerateStory.with_options(timeout=float('nan'))", "ValueError"),
             ("GenerateStory.with_options(client='nope')", "UnknownClientError"),
             ("%baml client foo/bar/baz", "UnknownClientError"), ("%baml load 'x", "UsageError"),
             ("%baml list --verbose", "UsageError")]
    for code, name in cases:
        started = time.monotonic()
        execution = kernel.run(code, timeout=30)
        assert time.monotonic() - started < 5, code
        assert execution.status == "error", code
        if name == "UsageError":  # IPython prints a UsageError as one line on stderr, not as an error output
            assert execution.text.strip().startswith("UsageError: ") and len(execution.text.strip().splitlines()) == 1
            continue
        error = execution.of_type("error")[0]["content"]
        assert error["ename"] == name, (code, error["ename"])
        assert len(error["traceback"]) == 1, (code, error["traceback"])
        assert "Stack backtrace" not in error["evalue"] and "Traceback" not in "".join(error["traceback"])
    assert "ok" in kernel.ok("print(GenerateStory('y').title and 'ok')").text


def test_a_trailing_comment_on_a_baml_line_is_not_an_argument(shell) -> None:
    from baml_magic.notebook._commands import without_comment

    assert without_comment("test Extract* --repeat 3   # three runs") == "test Extract* --repeat 3"
    assert without_comment('load "dir # with hash" Fn  # note') == 'load "dir # with hash" Fn'
    assert without_comment("client issue#3") == "client issue#3", "a # inside a word stays"
    baml_cell(shell, CLIENT + STORY)
    assert "every call uses client Fast" in str(shell.run_line_magic("baml", "client Fast  # all calls"))
