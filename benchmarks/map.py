"""Fn.map throughput: 32 inputs, each answered in 1 s by local_llm, concurrency 8.

Printed against the ideal (32 / 8 x 1 s = 4 s) and against a plain sequential loop of the same
calls measured in the same run. Run: ``python benchmarks/map.py``.
"""

from __future__ import annotations

import os
import tempfile
import time

from baml_magic import local_llm
from baml_magic.testing import TestingShell

INPUTS, CONCURRENCY, SECONDS = 32, 8, 1.0


def main() -> None:
    os.environ.setdefault("BAML_MAGIC_CACHE", tempfile.mkdtemp(prefix="baml_magic_bench_"))
    llm = local_llm.start(words=8)
    os.environ["LOCAL_LLM_BASE_URL"] = llm.base_url
    shell = TestingShell.instance()
    shell.run_line_magic("load_ext", "baml_magic")
    shell.run_line_magic("config", "BamlMagic.display = 'none'")
    shell.run_cell(f"""%%baml
client<llm> Paced {{
  provider "openai-generic"
  options {{
    base_url env.LOCAL_LLM_BASE_URL
    model "local?seconds={SECONDS}"
  }}
}}
function Summarize(text: string) -> string {{
  client Paced
  prompt #"Summarize: {{{{ text }}}}"#
}}
""")
    fn = shell.user_ns["Summarize"]
    texts = [f"document {i}" for i in range(INPUTS)]
    try:
        fn("warm-up")
        llm.reset()
        started = time.perf_counter()
        results = fn.map(texts, concurrency=CONCURRENCY)
        mapped = time.perf_counter() - started
        assert len(results) == INPUTS and all(isinstance(r, str) for r in results)
        peak = llm.stats()["max_in_flight"]

        started = time.perf_counter()
        for text in texts:
            fn(text)
        sequential = time.perf_counter() - started
    finally:
        llm.stop()
    ideal = INPUTS / CONCURRENCY * SECONDS
    print(f"{INPUTS} inputs x {SECONDS:g} s, concurrency {CONCURRENCY} (peak in flight seen by the server: {peak})")
    print(f"Fn.map          {mapped:6.2f} s   ratio to ideal {ideal:g} s: {mapped / ideal:.3f} (goal <= 1.25)")
    print(f"sequential loop {sequential:6.2f} s   Fn.map is {sequential / mapped:.1f}x faster")


if __name__ == "__main__":
    main()
