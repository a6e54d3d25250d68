"""The evaluation grid's wall time against the ideal: the slowest call x the waves its concurrency needs.

Four test blocks x three clients x five repeats (60 calls) on the offline model, each call held to
a fixed duration (``seconds=``), at concurrency 8 and 16, in an in-process shell with no view. The
ideal is the slowest call measured in the run times ceil(60 / concurrency).

Run: ``python benchmarks/grid.py`` (about half a minute).
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from baml_magic import local_llm
from baml_magic.testing import TestingShell

SECONDS = 0.5
TESTS, CLIENTS, REPEAT = 4, 3, 5


def project(folder: Path) -> None:
    clients = "".join(
        f'client<llm> C{i} {{\n  provider "openai-generic"\n  options {{\n    base_url env.LOCAL_LLM_BASE_URL\n'
        f'    model "local?seed={i}&seconds={SECONDS}"\n  }}\n}}\n' for i in range(CLIENTS))
    tests = "".join(f'test T{i} {{\n  functions [Tell]\n  args {{ text "item {i}" }}\n'
                    f'  @@assert(small, {{{{ this.n < 60 }}}})\n}}\n' for i in range(TESTS))
    (folder / "grid.baml").write_text(
        clients + 'class Tally {\n  n int\n  label string\n}\nfunction Tell(text: string) -> Tally {\n  client C0\n'
        '  prompt #"Count {{ text }}. {{ ctx.output_format }}"#\n}\n' + tests)


def main() -> None:
    with local_llm.start(tps=200, words=10) as llm, tempfile.TemporaryDirectory() as folder:
        os.environ["LOCAL_LLM_BASE_URL"] = llm.base_url
        os.environ.setdefault("BAML_MAGIC_CACHE", str(Path(folder) / "generated"))
        project(Path(folder))
        shell = TestingShell.instance()
        shell.run_line_magic("load_ext", "baml_magic")
        shell.run_line_magic("config", "BamlMagic.display = 'none'")
        shell.run_line_magic("baml", f"load {folder}")
        clients = ",".join(f"C{i}" for i in range(CLIENTS))
        calls = TESTS * CLIENTS * REPEAT
        print(f"grid of {TESTS} tests x {CLIENTS} clients x {REPEAT} repeats = {calls} calls of {SECONDS} s each")
        for concurrency in (8, 16):
            ratios = []
            for _ in range(3):
                started = time.perf_counter()
                grid = shell.run_line_magic("baml", f"test --clients {clients} --repeat {REPEAT} "
                                                    f"--concurrency {concurrency}")
                wall = time.perf_counter() - started
                slowest = max(o.latency or 0.0 for o in grid.outcomes)
                ideal = slowest * math.ceil(calls / concurrency)
                ratios.append(wall / ideal)
            print(f"  concurrency {concurrency:>2}: wall {wall:.2f} s, ideal {ideal:.2f} s (slowest call "
                  f"{slowest:.3f} s x {math.ceil(calls / concurrency)} waves), ratio median "
                  f"{statistics.median(ratios):.3f} (runs: {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
