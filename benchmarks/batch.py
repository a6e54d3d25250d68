"""Fn.batch at scale: time and memory to build, upload and parse 10,000 and 100,000 items.

Against the offline model's OpenAI-style batch API, in an in-process shell (the same Python a
kernel runs). For each size: the time to render every request with BAML and upload the JSONL
(``submit``), the time to fetch and parse every answer into the function's type (``parse``), and
the process's resident memory before, at its peak and after the values are dropped. The baseline
is a plain loop that renders the same requests with ``baml_py.BamlRuntime.build_request_sync``.

Run: ``python benchmarks/batch.py`` (about three minutes).
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from pathlib import Path

from baml_magic import local_llm
from baml_magic.testing import CLIENT, TestingShell

SIZES = (10_000, 100_000)
PROJECT = CLIENT.replace('model "local"', 'model "local?batch_seconds=1&words=8"') + """
class Note {
  title string
  score int
}
function Rate(text: string) -> Note {
  client Fast
  prompt #"Rate {{ text }}. {{ ctx.output_format }}"#
}
"""


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    with local_llm.start(tps=2000, words=8) as llm, tempfile.TemporaryDirectory() as folder:
        os.environ["LOCAL_LLM_BASE_URL"] = llm.base_url
        os.environ.setdefault("BAML_MAGIC_CACHE", str(Path(folder) / "generated"))
        shell = TestingShell.instance()
        shell.run_line_magic("load_ext", "baml_magic")
        shell.run_line_magic("config", "BamlMagic.display = 'none'")
        shell.run_cell("%%baml\n" + PROJECT)
        rate = shell.user_ns["Rate"]
        runtime = rate.compiled.engine.runtime
        for size in SIZES:
            inputs = [f"item number {i}" for i in range(size)]
            started = time.perf_counter()
            ctx, env = runtime.create_context_manager(), dict(os.environ)
            for text in inputs:
                runtime.build_request_sync("Rate", {"text": text}, ctx, None, None, env, False)
            baseline = time.perf_counter() - started
            gc.collect()
            before = rss_mib()
            started = time.perf_counter()
            job = rate.batch(inputs, poll=0.2)
            submitted = time.perf_counter() - started
            peak = rss_mib()
            job.wait()
            waited = time.perf_counter() - started - submitted
            started = time.perf_counter()
            values = job.result()
            parsed = time.perf_counter() - started
            peak = max(peak, rss_mib())
            assert len(values) == size and values[-1].title
            del values, job
            gc.collect()
            after = rss_mib()
            print(f"{size:>7,} items: submit {submitted:6.1f} s ({submitted / baseline:.2f}x rendering alone, "
                  f"{baseline:.1f} s) · provider {waited:5.1f} s · parse {parsed:5.1f} s "
                  f"({parsed / size * 1e6:.0f} µs an item) · memory {before:.0f} MiB -> peak {peak:.0f} MiB "
                  f"(+{peak - before:.0f}) -> {after:.0f} MiB after")


if __name__ == "__main__":
    main()
