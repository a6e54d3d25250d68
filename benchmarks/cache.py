"""Record and replay: a notebook run twice, and what the cache costs a call that misses.

- A notebook of five calls that take 1 s each (the offline model's ``seconds=1``), executed with
  nbclient twice on one cache file: the calls' time and the model's requests each time.
- 200 tiny calls in an in-process shell with the cache off, then on (each a miss and a write), then
  on again (each a hit): time per call, as ratios against the cache-off run.

Run: ``python benchmarks/cache.py`` (about half a minute).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from baml_magic import local_llm
from baml_magic.testing import CLIENT, STORY, TestingShell

CALLS = 5
TINY_CALLS = 200


def _seconds(cell: nbformat.NotebookNode) -> float:
    timing = cell.metadata["execution"]
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(timing["shell.execute_reply"]) - parse(timing["iopub.execute_input"])).total_seconds()


def notebook_twice(llm: local_llm.LocalLLM, folder: Path) -> None:
    client = CLIENT.replace('model "local"', 'model "local?seconds=1"')
    calls = [f'print(GenerateStory("topic {i}"))' for i in range(CALLS)]
    cells = ["%load_ext baml_magic", "%%baml\n" + client + STORY, "%baml cache on --path .", *calls]
    figures = []
    for _ in range(2):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        before = len(llm.requests())
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
        figures.append((sum(_seconds(c) for c in nb.cells[3:]), len(llm.requests()) - before))
    (first, sent_first), (second, sent_second) = figures
    print(f"notebook of {CALLS} one-second calls, run twice on one cache file:")
    print(f"  first run:  {first:6.2f} s, {sent_first} requests")
    print(f"  second run: {second:6.2f} s, {sent_second} requests   ({first / second:.0f}x faster)")


def tiny_calls(folder: Path) -> None:
    shell = TestingShell.instance()
    shell.run_line_magic("load_ext", "baml_magic")
    shell.run_line_magic("config", "BamlMagic.display = 'none'")
    shell.run_cell("%%baml\n" + CLIENT + 'function Say(x: string) -> string {\n  client Fast\n'
                   '  prompt #"Say {{ x }}"#\n}\n')
    say = shell.user_ns["Say"]
    say("warm up")

    def per_call(tag: str) -> float:
        times = []
        for i in range(TINY_CALLS):
            started = time.perf_counter()
            say(f"{tag} {i}" if tag != "hit" else f"miss {i}")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    off = per_call("off")
    shell.run_line_magic("baml", f"cache on --path {folder / 'tiny.sqlite3'}")
    miss = per_call("miss")
    hit = per_call("hit")
    print(f"{TINY_CALLS} tiny calls, median per call:")
    print(f"  cache off:          {off * 1000:6.2f} ms   (baseline)")
    print(f"  cache on, a miss:   {miss * 1000:6.2f} ms   ({miss / off:.2f}x: the key, the call, the write)")
    print(f"  cache on, a hit:    {hit * 1000:6.2f} ms   ({hit / off:.2f}x)")


def main() -> None:
    with local_llm.start(tps=2000, words=3) as llm, tempfile.TemporaryDirectory() as folder:
        os.environ["LOCAL_LLM_BASE_URL"] = llm.base_url
        os.environ.setdefault("BAML_MAGIC_CACHE", str(Path(folder) / "generated"))
        notebook_twice(llm, Path(folder))
        tiny_calls(Path(folder))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
