"""Streams, cancellation by every route, deadlines, provider faults, and kernel health (in-process)."""

from __future__ import annotations

import _thread
import gc
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from baml_py.errors import BamlClientHttpError, BamlError, BamlTimeoutError, BamlValidationError

from baml_magic.testing import wait_until
from tests.conftest import CLIENT, STORY, baml_cell

FUNCTION = STORY.split("function", 1)[1]


def _client(name: str, model: str) -> str:
    return CLIENT.replace("Fast", name).replace('model "local"', f'model "{model}"')


def _function(name: str, client: str) -> str:
    return "function" + FUNCTION.replace("GenerateStory", name).replace("client Fast", f"client {client}")


@pytest.fixture
def fns(shell):
    """GenerateStory (fast), Slow (about 3 s) and one function per provider fault."""
    faults = {
        "Http500": "local?fault=http_500",
        "Http429": "local?fault=http_429",
        "Stall": "local?fault=stall&after=3&stall=20",
        "Malformed": "local?fault=malformed&after=4",
        "Disconnect": "local?fault=disconnect&after=6",
        "Unparsable": "local?fault=unparsable",
        "SlowModel": "local?tps=20&words=25",
    }
    text = CLIENT + STORY
    for name, model in faults.items():
        text += _client(name + "Client", model) + _function(name, name + "Client")
    text += _client("Refused", "local").replace("env.LOCAL_LLM_BASE_URL", '"http://127.0.0.1:9/v1"')
    text += _function("NoServer", "Refused")
    baml_cell(shell, text)
    return shell.user_ns


def _closed(llm) -> dict:
    record = wait_until(lambda: (r := llm.requests()[-1])["outcome"] != "running" and r, what="the request to end")
    assert record["outcome"] == "client_closed", record
    assert record["tokens_sent"] < record["tokens_planned"]
    return record


def test_stream_yields_growing_typed_partials_and_final(fns) -> None:
    stream = fns["GenerateStory"].stream("a kite")
    partials = list(stream)
    assert len(partials) >= 3
    bodies = [p.body or "" for p in partials]
    assert bodies == sorted(bodies, key=len), "strings only grow"
    assert stream.final == partials[-1] and stream.final.body
    assert type(partials[0]).__module__.endswith("stream_types"), "partials are BAML's partial types"
    assert fns["GenerateStory"].last.status == "done"


@pytest.mark.parametrize("how", ["break", "close", "with", "collected"])
def test_leaving_a_stream_early_closes_the_connection(fns, llm, how) -> None:
    fn = fns["SlowModel"]
    llm.reset()
    if how == "break":
        for i, _ in enumerate(fn.stream("x")):
            if i == 3:
                break
        # The loop's iterator is dropped here, which aborts the request.
    elif how == "close":
        stream = fn.stream("x")
        next(stream), next(stream)
        stream.close()
    elif how == "with":
        with fn.stream("x") as stream:
            next(stream), next(stream)
    else:
        stream = fn.stream("x")
        next(stream)
        del stream
        gc.collect()
    record = _closed(llm)
    assert record["ended"] - record["started"] < 2.0
    assert fn.last.status == "cancelled" and fn.last.partial is not None


def _interrupt_soon(delay: float) -> threading.Timer:
    timer = threading.Timer(delay, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_during_a_blocking_call_aborts_and_keeps_the_partial(fns, llm) -> None:
    llm.reset()
    _interrupt_soon(0.8)
    started = time.time()
    with pytest.raises(KeyboardInterrupt):
        fns["SlowModel"]("x")
    assert time.time() - started < 1.5
    _closed(llm)
    last = fns["SlowModel"].last
    assert last.status == "cancelled" and last.partial is not None and last.value is None
    assert fns["GenerateStory"]("next").title, "the next call works"


def test_timeout_aborts_with_bamls_timeout_error(fns, llm) -> None:
    llm.reset()
    with pytest.raises(BamlTimeoutError, match=r"within 0\.5 s"):
        fns["SlowModel"]("x", timeout=0.5)
    _closed(llm)
    assert fns["SlowModel"].last.status == "error" and fns["SlowModel"].last.partial is not None
    with pytest.raises(BamlTimeoutError):
        fns["SlowModel"].with_options(timeout=0.3)("y")


@pytest.mark.slow
def test_stall_past_the_timeout_keeps_the_partial(fns, llm) -> None:
    with pytest.raises(BamlTimeoutError):
        fns["Stall"]("x", timeout=1.0)
    _closed(llm)
    assert fns["Stall"].last.partial is not None


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("Http500", BamlClientHttpError, "500"),
        ("Http429", BamlClientHttpError, "429"),
        ("NoServer", BamlError, "onnect"),
        ("Malformed", BamlError, ""),
        ("Disconnect", BamlError, ""),
        ("Unparsable", BamlValidationError, ""),
    ],
)
def test_provider_faults_raise_bamls_error_and_keep_the_kernel_usable(fns, name, error, words) -> None:
    with pytest.raises(error) as info:
        fns[name]("x")
    last = fns[name].last
    assert last.status == "error" and last.error is info.value
    assert words in last.error_message
    assert "Stack backtrace" not in last.error_message
    assert re.sub(r"\x1b\[[0-9;]*m", "", info.value._render_traceback_()[0]).startswith(type(info.value).__name__)
    assert fns["GenerateStory"]("after the fault").title


def test_a_disconnect_after_parsable_json_is_still_an_error(shell, llm) -> None:
    cut = _client("Cut", "local?fault=disconnect&after=12&words=30")
    baml_cell(shell, CLIENT + cut + STORY + _function("CutShort", "Cut"))
    with pytest.raises(BamlError, match="ended before the model finished"):
        shell.user_ns["CutShort"]("x")
    last = shell.user_ns["CutShort"].last
    assert last.status == "error" and last.partial.title, "what arrived is kept"
    assert shell.user_ns["GenerateStory"]("fine").body, "a complete stream is not flagged"


def test_mid_stream_faults_keep_the_partial(fns) -> None:
    for name in ("Disconnect", "Malformed"):
        with pytest.raises(BamlError):
            fns[name]("x")
        assert fns[name].last.partial is not None, name


def test_text_view_prints_the_stream_incrementally(fns, shell, monkeypatch) -> None:
    shell.run_line_magic("config", "BamlMagic.display = 'text'")
    out = io.StringIO()
    writes = []
    monkeypatch.setattr(sys, "stdout", out)
    original = out.write
    monkeypatch.setattr(out, "write", lambda s: (writes.append(s), original(s))[1])
    story = fns["GenerateStory"]("a dune")
    text = out.getvalue()
    assert len(writes) >= 4, "the stream must print as it grows"
    assert story.body in text and "done" in text
    assert text.count("title:") == 1, "growing output is appended, not reprinted"


def test_async_calls_and_streams(fns) -> None:
    import asyncio

    async def main():
        story = await fns["GenerateStory"].aio("a cloud")
        partials = [p async for p in fns["GenerateStory"].astream("rain")]
        return story, partials

    story, partials = asyncio.run(main())
    assert story.title and len(partials) >= 2 and partials[-1].body


def test_async_cancellation_closes_the_connection(fns, llm) -> None:
    import asyncio

    async def main():
        task = asyncio.ensure_future(fns["SlowModel"].aio("x"))
        await asyncio.sleep(0.6)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    llm.reset()
    asyncio.run(main())
    _closed(llm)


def _received(sock: socket.socket) -> bytes:
    """What a non-blocking socket holds now (b"" when nothing yet)."""
    try:
        return sock.recv(64)
    except BlockingIOError:
        return b""


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
def test_fifty_interrupted_calls_leave_no_threads_or_descriptors(fns, llm) -> None:
    fn = fns["SlowModel"]
    fns["GenerateStory"]("warm-up")
    time.sleep(0.2)  # the warm-up's threads wind down; there is no event to wait on for a thread's end
    threads, fds = threading.active_count(), _fds()
    for _ in range(50):
        _interrupt_soon(0.15)
        with pytest.raises(KeyboardInterrupt):
            fn("x")
    wait_until(lambda: threading.active_count() <= threads, what="the threads to end")
    assert _fds() <= fds + 2
    assert fns["GenerateStory"]("after fifty").title
    outcomes = [r["outcome"] for r in llm.requests()[-51:-1]]
    assert outcomes.count("client_closed") == 50


@pytest.mark.slow
def test_no_fatal_error_at_interpreter_exit(llm, tmp_path) -> None:
    script = tmp_path / "exit.py"
    script.write_text(
        "import _thread, threading\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "sh = InteractiveShell.instance()\n"
        "sh.run_line_magic('load_ext', 'baml_magic')\n"
        "sh.run_line_magic('config', \"BamlMagic.display = 'none'\")\n"
        f"sh.run_cell('''%%baml\n{_client('Slow', 'local?tps=20')}{STORY.replace('client Fast', 'client Slow')}''')\n"
        "fn = sh.user_ns['GenerateStory']\n"
        "print(fn('one').title is not None)\n"
        "threading.Timer(0.3, _thread.interrupt_main).start()\n"
        "try:\n    fn('two')\nexcept KeyboardInterrupt:\n    print('interrupted')\n"
        "stream = fn.stream('three'); next(stream)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LOCAL_LLM_BASE_URL": llm.base_url})
    assert done.returncode == 0, done.stderr
    assert "Fatal Python error" not in done.stderr
    assert done.stdout.split()[-2:] == ["True", "interrupted"]


@pytest.mark.slow  # measured over a second
def test_stream_false_answers_in_one_piece(fns, llm, shell) -> None:
    fn = fns["GenerateStory"]
    llm.reset()
    assert fn.with_options(stream=False)("owls").title
    # In one piece to the caller, streamed on the wire: a server stops generating only when it can't write.
    assert llm.requests()[-1]["stream"] is True
    last = fn.last
    assert last.status == "done" and last.partials == 0 and last.timing.time_to_first_token is None
    assert last.usage.output_tokens == llm.requests()[-1]["tokens_sent"]
    shell.run_line_magic("config", "BamlMagic.stream = False")
    try:
        assert fn("bats").title and fn.last.partials == 0
        assert fn.with_options(stream=True)("rats").title and fn.last.partials > 0
        fn("gnats", idle_timeout=5)
        assert fn.last.partials > 0, "a stall watch needs the stream"
    finally:
        shell.run_line_magic("config", "BamlMagic.stream = True")
    assert fn("cats").title and fn.last.partials > 0
    shell.run_line_magic("config", "BamlMagic.plain_requests = True")  # for a model or proxy that can't stream
    try:
        assert fn.with_options(stream=False)("bats").title and llm.requests()[-1]["stream"] is False
        assert fn.last.usage.output_tokens == llm.requests()[-1]["tokens_sent"]
        assert fn("owls").title and llm.requests()[-1]["stream"] is True, "only one-piece answers are plain"
    finally:
        shell.run_line_magic("config", "BamlMagic.plain_requests = False")
    with pytest.raises(TypeError, match="stream must be True or False"):
        fn.with_options(stream="no")  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["interrupt_main", "sigint"])
def test_ctrl_c_during_a_one_piece_call_closes_the_connection(fns, llm, how) -> None:
    # The caller blocks on the main thread: the SIGINT reaches it through the wakeup fd; the request is a stream
    # on the wire, so the server sees it closed at its next token.
    fn = fns["SlowModel"].with_options(stream=False)
    llm.reset()
    send = _thread.interrupt_main if how == "interrupt_main" else lambda: os.kill(os.getpid(), signal.SIGINT)
    threading.Timer(0.5, send).start()
    started = time.time()
    with pytest.raises(KeyboardInterrupt, match="no partial"):
        fn("x")
    assert time.time() - started < 1.2, "the interrupt ended the call, not the answer"
    record = _closed(llm)
    assert record["stream"] is True and record["ended"] - started < 1.2
    last = fns["SlowModel"].last
    assert last.status == "cancelled" and last.partial is None
    assert signal.set_wakeup_fd(-1) == -1, "the wakeup fd is given back after the call"
    assert fns["GenerateStory"].with_options(stream=False)("next").title, "the next call works"


def test_a_wakeup_fd_set_before_still_hears_the_interrupt(fns, llm) -> None:
    # asyncio and prompt_toolkit learn of signals through the wakeup fd: a one-piece call borrows it, forwards
    # every byte, and gives it back.
    read, write = socket.socketpair()
    read.setblocking(False)
    write.setblocking(False)
    previous = signal.set_wakeup_fd(write.fileno())
    try:
        threading.Timer(0.4, _thread.interrupt_main).start()
        with pytest.raises(KeyboardInterrupt):
            fns["SlowModel"].with_options(stream=False)("x")
        woken = wait_until(lambda: _received(read), 5, "the wake-up byte")
        assert signal.SIGINT in woken, "the byte reached the fd that was there before"
        assert signal.set_wakeup_fd(write.fileno()) == write.fileno(), "and that fd is back"
        _closed(llm)
    finally:
        signal.set_wakeup_fd(previous)
        read.close()
        write.close()


def test_one_piece_faults_raise_bamls_errors_and_keep_what_parses(fns, shell) -> None:
    for name, error in (("Http500", BamlClientHttpError), ("Unparsable", BamlValidationError)):
        with pytest.raises(error):
            fns[name].with_options(stream=False)("x")
        assert fns[name].last.status == "error"
    assert fns["Unparsable"].last.raw_response, "the answer that did not parse is kept"
    # An answer that parses but fails an @assert: what parsed stays as the partial.
    strict = STORY.replace("GenerateStory", "Strict").replace(
        "title string", "title string @assert(tiny, {{ this|length < 2 }})")
    baml_cell(shell, CLIENT + strict)
    with pytest.raises(BamlValidationError):
        shell.user_ns["Strict"].with_options(stream=False)("owls")
    last = shell.user_ns["Strict"].last
    assert last.status == "error" and last.partial is not None and last.partial.body


def test_environ_copies_the_environment_exactly(monkeypatch) -> None:
    from baml_magic.calls._env import environ
    monkeypatch.setenv("BAML_MAGIC_TEST_VALUE", "caf\u00e9 \u2603")
    assert environ() == dict(os.environ)
