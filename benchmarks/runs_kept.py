"""What keeping every run by version costs per call, as a ratio to a call that keeps nothing (goal: 3 % or less).

One function returning a class, called in one piece against the offline model at full speed (the
cheapest call there is, so the record's share is the largest it gets), in alternating blocks: with the
run history off (``BamlMagic.runs_kept = 0``), on (the default, in memory), and on with a runs file
(``BamlMagic.runs_file``), each mode first in a round as often as the others. The median call of each is
compared with the median of the "off" blocks measured in the same run (the means too); the record's own
build time is printed as well. The record is built by a thread while the next call waits on the
network, so a call does not pay for it in line.
Run: ``python benchmarks/runs_kept.py``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from baml_magic import local_llm
from baml_magic.testing import CLIENT, TestingShell

BLOCKS = 9  # rounds of the three modes: each mode first three times
CALLS = 60
PROJECT = CLIENT + '''class Ticket {
  category string
  summary string
  urgent bool
}
function Triage(text: string) -> Ticket {
  client Fast
  prompt #"Triage: {{ text }} {{ ctx.output_format }}"#
}
'''


def _times(fn: Any, calls: int) -> list[float]:
    out = []
    for i in range(calls):
        started = time.perf_counter()
        fn(f"the printer on floor {i} jams")
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    server = local_llm.start(tps=1_000_000)
    scratch = tempfile.TemporaryDirectory(prefix="baml_magic_bench_")
    try:
        os.environ["LOCAL_LLM_BASE_URL"] = server.base_url
        folder = Path(scratch.name)
        os.environ.setdefault("BAML_MAGIC_CACHE", str(folder))
        shell = TestingShell.instance()
        shell.run_line_magic("load_ext", "baml_magic")
        shell.run_line_magic("config", "BamlMagic.display = 'none'")
        shell.run_cell("%%baml\n" + PROJECT)
        triage = shell.user_ns["Triage"].with_options(stream=False)
        _times(triage, 30)  # warm up
        modes = {"off": ("0", ""), "memory": ("10000", ""), "file": ("10000", str(folder / "runs.sqlite3"))}
        samples: dict[str, list[float]] = {m: [] for m in modes}
        order = list(modes)
        for block in range(BLOCKS):
            for mode in order[block % 3:] + order[:block % 3]:  # each mode first as often: no order bias
                kept, where = modes[mode]
                shell.run_line_magic("config", f"BamlMagic.runs_kept = {kept}")
                shell.run_line_magic("config", f"BamlMagic.runs_file = {where!r}")
                samples[mode] += _times(triage, CALLS)
        shell.run_line_magic("config", "BamlMagic.runs_file = ''")  # written and closed before the folder goes
        base = statistics.median(samples["off"])
        mean = statistics.fmean(samples["off"])
        magic = shell.magics_manager.registry["BamlMagic"]
        from baml_magic.history._runs import from_run

        run = triage.last
        started = time.perf_counter()
        for _ in range(1000):
            from_run(run, triage.version, "call", None)
        build = (time.perf_counter() - started) / 1000
        print(f"runs kept: median of {BLOCKS * CALLS} calls in one piece at full speed: {base * 1000:.2f} ms keeping "
              f"nothing; {statistics.median(samples['memory']) / base:.3f}x keeping runs in memory, "
              f"{statistics.median(samples['file']) / base:.3f}x also writing them to a file (means: "
              f"{statistics.fmean(samples['memory']) / mean:.3f}x, {statistics.fmean(samples['file']) / mean:.3f}x); "
              f"building one record "
              f"{build * 1e6:.0f} µs ({build / base:.1%} of a call); {len(magic.session.history.of())} runs kept")
    finally:
        server.stop()
        scratch.cleanup()


if __name__ == "__main__":
    main()
