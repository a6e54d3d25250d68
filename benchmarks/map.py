"""Fn.map throughput: 32 inputs, each answered in 1 s by local_llm, concurrency 8.

Printed against the ideal (32 / 8 x 1 s = 4 s) and against a plain sequential loop of the same
calls measured in the same run. Run: ``python benchmarks/map.py``.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
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
client<llm> Slow {{
  provider "openai-generic"
  options {{
    base_url env.LOCAL_LLM_BASE_URL
    model "local?seconds=10"
  }}
}}
function SummarizeSlowly(text: string) -> string {{
  client Slow
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

        llm.reset()
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()  # what Jupyter's stop button sends
        interrupted = time.time() + 1.0
        try:
            shell.user_ns["SummarizeSlowly"].map(texts, concurrency=CONCURRENCY)
        except KeyboardInterrupt:
            pass
        time.sleep(0.3)
        closed = [r["ended"] - interrupted for r in llm.requests()]
        kept = shell.user_ns["SummarizeSlowly"].last_map.count("cancelled")
    finally:
        llm.stop()
    ideal = INPUTS / CONCURRENCY * SECONDS
    print(f"{INPUTS} inputs x {SECONDS:g} s, concurrency {CONCURRENCY} (peak in flight seen by the server: {peak})")
    print(f"Fn.map          {mapped:6.2f} s   ratio to ideal {ideal:g} s: {mapped / ideal:.3f} (goal <= 1.25)")
    print(f"sequential loop {sequential:6.2f} s   Fn.map is {sequential / mapped:.1f}x faster")
    print(f"interrupt 1 s into a map of 10 s calls: {len(closed)} connections, all closed within "
          f"{max(closed) * 1000:.1f} ms of the signal (goal: 100 ms); {kept} slots marked cancelled")


if __name__ == "__main__":
    main()
