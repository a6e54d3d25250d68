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
