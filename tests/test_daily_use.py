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
    from baml_magic.views._views import status_text

    assert status_text(fn.last).endswith(" · $" + f"{fn.last.cost:.6f}"), status_text(fn.last)
    assert fn.history.rows()[0]["cost"] == fn.last.cost


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
