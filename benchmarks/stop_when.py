"""``stop_when``: what a call that ends itself saves, against the same call run to its end (measured, same run).

The offline model streams a 300-word story at 100 tokens/s; the predicate is true once the body has ten words.
Figures: tokens the server sent and wall time, stopped / whole, and the time from the predicate's "enough" to
the server seeing the connection close. Run: ``python benchmarks/stop_when.py [ROUNDS]``.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time
from typing import Any

from baml_magic import local_llm
from baml_magic.testing import CLIENT, STORY, TestingShell

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
LONG = CLIENT.replace('model "local"', 'model "local?tps=100&words=300"') + STORY


def main() -> None:
    llm = local_llm.start()
    os.environ["LOCAL_LLM_BASE_URL"] = llm.base_url
    shell = TestingShell.instance()
    shell.run_line_magic("load_ext", "baml_magic")
    shell.run_line_magic("config", "BamlMagic.display = 'none'")
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_cell("%%baml\n" + LONG)
    story = shell.user_ns["GenerateStory"]
    enough_at: list[float] = []

    def enough(partial: Any) -> bool:
        if partial.body is not None and len(partial.body.split()) >= 10:
            enough_at.append(time.time())
            return True
        return False

    whole, stopped, closes = [], [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        story("owls")
        whole.append((time.perf_counter() - started, llm.requests()[-1]["tokens_sent"]))
        enough_at.clear()
        started = time.perf_counter()
        story("owls", stop_when=enough)
        request = llm.requests()[-1]
        stopped.append((time.perf_counter() - started, request["tokens_sent"]))
        closes.append(request["ended"] - enough_at[0])
    seconds = statistics.median(s for s, _ in stopped) / statistics.median(s for s, _ in whole)
    tokens = statistics.median(t for _, t in stopped) / statistics.median(t for _, t in whole)
    print(f"stop_when on a 300-word answer, p50 of {ROUNDS}: tokens sent {tokens:.2f} of the whole call's, "
          f"wall time {seconds:.2f} of it; the request closed {statistics.median(closes) * 1000:.1f} ms after the "
          f"predicate said enough (max {max(closes) * 1000:.1f} ms)")
    llm.stop()


if __name__ == "__main__":
    main()
