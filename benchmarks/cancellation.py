"""Interrupt-to-cancel latency, stream overhead and view smoothness, in real Jupyter kernels.

Two kernels on the same local_llm stream (about 130 tokens at 50 tokens/s):
  baml_magic  ``GenerateStory(...)`` with its live widget view;
  baseline    a plain baml-py generated client: ``for p in b.stream.GenerateStory(...)`` with an
              AbortController aborted in ``except KeyboardInterrupt`` (the obvious design).
For each, over RUNS interrupts 1 s into the stream: interrupt -> connection closed (as local_llm
saw it), interrupt -> kernel idle, and tokens the server still sent after the interrupt. Then the
wall time of full streams (ratio to the baseline) and the longest gap between view updates.
Run: ``python benchmarks/cancellation.py [RUNS]``.
"""

from __future__ import annotations

import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import baml_py

from baml_magic import local_llm
from baml_magic.testing import CLIENT, STORY, Execution, Kernel

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
FULL_RUNS = 5
TPS, WORDS = 50, 60
PROJECT = CLIENT + STORY
BASELINE_CALL = """
import baml_py
ctl = baml_py.AbortController()
try:
    for partial in b.stream.GenerateStory("{topic}", baml_options={{"abort_controller": ctl}}):
        pass
except KeyboardInterrupt:
    ctl.abort()
    raise
"""
BASELINE_FULL = """
t0 = time.perf_counter()
stream = b.stream.GenerateStory("{topic}")
for partial in stream:
    pass
final = stream.get_final_response()
print("WALL", time.perf_counter() - t0)
"""
MAGIC_FULL = """
t0 = time.perf_counter()
story = GenerateStory("{topic}")
print("WALL", time.perf_counter() - t0)
"""


def generate_client(folder: Path) -> None:
    src = folder / "baml_src"
    src.mkdir()
    (src / "main.baml").write_text(PROJECT + '\ngenerator g {\n  output_type "python/pydantic"\n  output_dir "../"\n'
                                   '  default_client_mode "sync"\n'
                                   f'  version "{baml_py.baml_py.get_version()}"\n}}\n')
    cli = Path(sys.executable).with_name("baml-cli")
    subprocess.run([str(cli), "generate", "--from", str(src)], check=True, capture_output=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def interrupt_runs(kernel: Kernel, llm: local_llm.LocalLLM, call: str) -> dict[str, list[float]]:
    closed, idle, after = [], [], []
    for i in range(RUNS):
        llm.reset()
        msg_id, execution = kernel.start(call.format(topic=f"storm {i}"))
        time.sleep(1.0)
        at = kernel.interrupt()
        kernel.collect(msg_id, execution, timeout=30)
        time.sleep(0.05)
        record = llm.requests()[-1]
        closed.append(record["ended"] - at)
        idle.append((execution.idle_at or at) - at)
        after.append(sum(1 for t in record["sent_at"] if t > at))
    return {"closed": closed, "idle": idle, "after": after}


def update_gaps(execution: Execution) -> float:
    """The longest gap between live view updates: the output updated in place, or widget values."""
    times = [t for t, m in execution.messages if m["header"]["msg_type"] == "update_display_data"
             or (m["header"]["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update")]
    return max((b - a for a, b in itertools.pairwise(times)), default=float("nan"))


def wall(execution: Execution) -> float:
    match = re.search(r"WALL ([0-9.]+)", execution.text)
    assert match, execution.text[-500:]
    return float(match.group(1))


def main() -> None:
    llm = local_llm.start(tps=TPS, words=WORDS)
    os.environ["LOCAL_LLM_BASE_URL"] = llm.base_url
    os.environ["BAML_LOG"] = "off"  # the generated client logs every call to stderr otherwise
    os.environ.setdefault("BAML_MAGIC_CACHE", tempfile.mkdtemp(prefix="baml_magic_bench_"))
    folder = Path(tempfile.mkdtemp(prefix="baml_bench_"))
    generate_client(folder)
    magic, plain = Kernel(folder), Kernel(folder)
    try:
        magic.ok("%load_ext baml_magic\nimport time")
        magic.ok("%%baml\n" + PROJECT)
        plain.ok("import time\nfrom baml_client import b")
        magic.ok(MAGIC_FULL.format(topic="warm-up"))
        plain.ok(BASELINE_FULL.format(topic="warm-up"))

        results = {
            "baml_magic": interrupt_runs(magic, llm, "GenerateStory('{topic}')"),
            "baseline": interrupt_runs(plain, llm, BASELINE_CALL),
        }
        magic_full = [magic.ok(MAGIC_FULL.format(topic=f"calm {i}")) for i in range(FULL_RUNS)]
        plain_full = [plain.ok(BASELINE_FULL.format(topic=f"calm {i}")) for i in range(FULL_RUNS)]
    finally:
        magic.shutdown()
        plain.shutdown()
        llm.stop()

    print(f"interrupt 1 s into a {TPS} tok/s stream, {RUNS} runs each, real kernels")
    print(f"{'':12}{'closed p50':>12}{'p95':>9}{'idle p50':>11}{'p95':>9}{'tokens after p50':>18}{'max':>6}")
    for name, r in results.items():
        print(f"{name:12}{statistics.median(r['closed']) * 1000:>10.1f}ms{pct(r['closed'], .95) * 1000:>7.1f}ms"
              f"{statistics.median(r['idle']) * 1000:>9.1f}ms{pct(r['idle'], .95) * 1000:>7.1f}ms"
              f"{statistics.median(r['after']):>18.0f}{max(r['after']):>6.0f}")
    speedup = statistics.median(results["baseline"]["closed"]) / statistics.median(results["baml_magic"]["closed"])
    print(f"connection closed {speedup:.0f}x sooner than the baseline (goal: within 50 ms; "
          f"p95 {pct(results['baml_magic']['closed'], .95) * 1000:.1f} ms)")

    magic_wall = statistics.median(wall(e) for e in magic_full)
    plain_wall = statistics.median(wall(e) for e in plain_full)
    gaps = [update_gaps(e) for e in magic_full]
    print(f"full stream wall time: baml_magic {magic_wall:.3f} s, plain baml-py {plain_wall:.3f} s, "
          f"ratio {magic_wall / plain_wall:.3f} (goal <= 1.05)")
    print(f"longest gap between view updates while tokens flow: median {statistics.median(gaps) * 1000:.0f} ms, "
          f"worst {max(gaps) * 1000:.0f} ms (goal <= 150 ms at 20 Hz)")


if __name__ == "__main__":
    main()
