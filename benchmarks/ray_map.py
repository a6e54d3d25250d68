"""``Fn.map(..., engine="ray")`` against the local ``Fn.map``, the same rows on this machine (measured, same run).

A real two-node Ray cluster (head and worker on 127.0.0.2 / 127.0.0.3) and the offline model answering each
row's typed call in 50 ms. Figures: rows per second and the kernel's Python memory at its peak during the map
(tracemalloc), ray / local. The local map stays the default (it needs no cluster); the cluster spreads the
answers' parsing over its workers' processes and pays for moving each row between them.
Run: ``python benchmarks/ray_map.py [ROWS]`` (10,000 by default).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import tracemalloc

from baml_magic import local_llm
from baml_magic.testing import CLIENT, TestingShell
from baml_magic.testing.ray_cluster import ray_cluster

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
CONCURRENCY = 64
CELL = CLIENT.replace('model "local"', 'model "local?seconds=0.05&words=3"') + """
class Item {
  name string
  score int
}
function Rate(text: string) -> Item {
  client Fast
  prompt #"Rate: {{ text }} {{ ctx.output_format }}"#
}
"""


def measured(run: object) -> tuple[float, float]:
    """(rows per second, peak Python memory in MiB) of one map."""
    tracemalloc.start()
    started = time.perf_counter()
    results = run()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert len(results) == ROWS and all(r.score is not None for r in results)
    return ROWS / seconds, peak


def main() -> None:
    llm = local_llm.start(tps=2000, words=3)
    os.environ["LOCAL_LLM_BASE_URL"] = llm.base_url
    with ray_cluster(dict(os.environ)) as address:
        import ray

        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        try:
            local, remote = compared()
        finally:
            ray.shutdown()  # before the cluster stops: a driver whose cluster is gone is ended by Ray
    llm.stop()
    print(f"{ROWS} rows, concurrency {CONCURRENCY}, offline model 50 ms a row, two Ray nodes on this machine")
    print(f"local map: {local[0]:.0f} rows/s, kernel peak {local[1]:.1f} MiB")
    print(f"ray map:   {remote[0]:.0f} rows/s, kernel peak {remote[1]:.1f} MiB")
    print(f"ray / local: rows per second {remote[0] / local[0]:.2f}, kernel memory {remote[1] / local[1]:.2f}")


def compared() -> tuple[tuple[float, float], tuple[float, float]]:
    """(local, ray) figures of the same rows."""
    shell = TestingShell.instance()
    shell.run_line_magic("load_ext", "baml_magic")
    shell.run_line_magic("config", "BamlMagic.display = 'none'")
    shell.run_line_magic("config", "BamlMagic.history = 100")
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_cell("%%baml\n" + CELL)
    rate = shell.user_ns["Rate"]
    texts = [f"row {i}" for i in range(ROWS)]
    rate.map(texts[:50], engine="ray")  # the workers' imports, once
    local = measured(lambda: rate.map(texts, concurrency=CONCURRENCY))
    remote = measured(lambda: rate.map(texts, concurrency=CONCURRENCY, engine="ray"))
    return local, remote


if __name__ == "__main__":
    main()
