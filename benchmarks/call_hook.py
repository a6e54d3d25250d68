"""What the offline model's call hook costs, and that a real provider's call pays none of it.

A function whose prompt writes its output format by hand, called in one piece, 200 times: first with
nothing listening on the call hook (as for a real provider: the call runs on the main thread's fast path,
no request is rendered twice), then with the offline model's hook joined (the declared type is worked out
and told before each call). The server runs as a plain process, so the hook is joined only when asked.
Run: ``python benchmarks/call_hook.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from baml_magic.testing import CLIENT, TestingShell

CALLS = 200
PROJECT = CLIENT + '''class Pick {
  name string
}
function Choose(x: string) -> Pick {
  client Fast
  prompt #"Pick one for {{ x }}. Answer as JSON: {"name": "..."}"#
}
'''


def _median_ms(fn: object) -> float:
    for _ in range(20):
        fn("a")  # type: ignore[operator]
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        fn("a")  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    server = subprocess.Popen([sys.executable, "-m", "baml_magic.local_llm", "--port", "0", "--tps", "1000000"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        os.environ["LOCAL_LLM_BASE_URL"] = line.split(" on ", 1)[1].strip()
        os.environ.setdefault("BAML_MAGIC_CACHE", tempfile.mkdtemp())
        shell = TestingShell.instance()
        shell.run_line_magic("load_ext", "baml_magic")
        shell.run_line_magic("config", "BamlMagic.display = 'none'")
        shell.run_cell("%%baml\n" + PROJECT)
        choose = shell.user_ns["Choose"].with_options(stream=False)
        alone = _median_ms(choose)
        from baml_magic.local_llm import _expect

        _expect.serve(os.environ["LOCAL_LLM_BASE_URL"])
        hooked = _median_ms(choose)
        print(f"call hook: a hand-written format in one piece, median of {CALLS} calls: {alone:.2f} ms with nothing "
              f"listening (a real provider's case), {hooked:.2f} ms with the offline model's hook "
              f"({hooked / alone:.2f}x)")
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
