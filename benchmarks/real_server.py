"""How long a real server keeps generating after an interrupt, per calling style, read from the server itself.

llama.cpp's ``llama-server`` (built by ``scripts/build_llama_server.sh``; ``make real-servers``) serves SmolLM2-135M;
a real kernel calls a function whose answer runs to ``max_tokens`` and is interrupted once the server reports a busy
slot (``/slots``). The figure is interrupt -> no slot generating. The baseline, measured in the same run, is the same
one-piece call sent as a plain request (``BamlMagic.plain_requests``, what one-piece calls and maps sent before):
the server notices the closed connection only when it writes, so it generates to the end.
Run: ``python benchmarks/real_server.py [RUNS]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baml_magic.testing import Kernel, wait_until
from tests import _llama
from tests.test_real_servers import PROJECT

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
STYLES = {
    "call": "Essay('rivers')",
    "one piece": "Essay.with_options(stream=False)('rivers')",
    "stream": "for p in Essay.stream('rivers'):\n    pass",
    "aio": "await Essay.aio('rivers')",
    "map (2 at once)": "Essay.map(['a', 'b', 'c'], concurrency=2)",
}


def stopped_after(kernel: Kernel, server: _llama.Server, code: str, slots: int) -> float:
    msg_id, execution = kernel.start(code)
    wait_until(lambda: server.busy() >= slots, timeout=60, what="a busy slot")
    time.sleep(0.3)  # a few tokens into the answer, as a person interrupts
    at = kernel.interrupt()
    seconds = server.idle_after(at, timeout=300)
    kernel.collect(msg_id, execution, timeout=30)
    return seconds


def main() -> None:
    why = _llama.find("cpp")
    if why is not None:
        print(f"real_server: skipped ({why})")
        return
    server = _llama.Server("cpp", slots=2, context=4096)
    os.environ["LLAMA_BASE_URL"] = server.base_url
    folder = tempfile.TemporaryDirectory(prefix="real_server_bench_")  # nothing left behind
    kernel = Kernel(Path(folder.name))
    try:
        kernel.ok("%load_ext baml_magic")
        kernel.ok("%%baml\n" + PROJECT)
        figures = {}
        for style, code in STYLES.items():
            slots = 2 if "map" in style else 1
            figures[style] = [stopped_after(kernel, server, code, slots) for _ in range(RUNS)]
        kernel.ok("%config BamlMagic.plain_requests = True")
        baseline = [stopped_after(kernel, server, STYLES["one piece"], 1) for _ in range(max(1, RUNS // 2))]
    finally:
        kernel.shutdown()
        server.stop()
        folder.cleanup()
    base = statistics.median(baseline)
    print(f"real_server: llama-server ({_llama.VERSION}), SmolLM2-135M, interrupt -> no slot generating, "
          f"median of {RUNS}")
    print(f"  baseline (plain one-piece request): {base:.2f} s")
    for style, seconds in figures.items():
        median = statistics.median(seconds)
        print(f"  {style:16} {median * 1000:7.1f} ms (max {max(seconds) * 1000:.1f} ms)  {base / median:8.0f}x sooner")


if __name__ == "__main__":
    main()
