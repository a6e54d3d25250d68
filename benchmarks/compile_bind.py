"""Compile + bind time of a %%baml cell for 20- and 100-function projects.

Baseline, measured in the same run: plain ``baml-cli generate`` of the same project.
Each timed cell differs from the last (a changed comment), so nothing is served from cache;
the cached re-run of an unchanged cell is printed too. Run: ``python benchmarks/compile_bind.py``.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import baml_py

from baml_magic.testing import TestingShell

ROUNDS = 7


def project(functions: int, salt: int) -> str:
    parts = [f"// round {salt}",
             'client<llm> Fast {\n  provider "openai-generic"\n  options {\n    base_url "http://127.0.0.1:9/v1"\n'
             '    model "local"\n  }\n}\n']
    for i in range(functions):
        parts.append(
            f"class Item{i} {{\n  name string\n  score float\n  tags string[]\n}}\n"
            f"function Fn{i}(text: string, limit: int?) -> Item{i}[] {{\n  client Fast\n"
            f'  prompt #"Extract items from {{{{ text }}}}. {{{{ ctx.output_format }}}}"#\n}}\n'
        )
    return "\n".join(parts)


def baml_cli_generate(source: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "baml_src")
        src.mkdir()
        (src / "main.baml").write_text(source + '\ngenerator g {\n  output_type "python/pydantic"\n'
                                       f'  output_dir "../out"\n  version "{baml_py.baml_py.get_version()}"\n}}\n')
        cli = Path(sys.executable).with_name("baml-cli")
        started = time.perf_counter()
        subprocess.run([str(cli), "generate", "--from", str(src)], check=True, capture_output=True,
                       env={**os.environ, "BAML_LOG": "off"})
        return time.perf_counter() - started


def main() -> None:
    os.environ.setdefault("BAML_MAGIC_CACHE", tempfile.mkdtemp(prefix="baml_magic_bench_"))
    shell = TestingShell.instance()
    shell.run_line_magic("load_ext", "baml_magic")
    print(f"{'functions':>9}  {'%%baml p50':>11}  {'p95':>7}  {'cached':>7}  {'baml-cli':>9}  {'ratio':>6}  goal")
    for functions, goal in ((20, 0.300), (100, 1.0)):
        cell_times, cli_times = [], []
        for r in range(ROUNDS):
            source = project(functions, r)
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                shell.run_cell("%%baml\n" + source, cell_id="bench")
            cell_times.append(time.perf_counter() - started)
            cli_times.append(baml_cli_generate(source))
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            shell.run_cell("%%baml\n" + project(functions, ROUNDS - 1), cell_id="bench")
        cached = time.perf_counter() - started
        assert len(shell.user_ns[f"Fn{functions - 1}"].spec.params) == 2
        p50, cli = statistics.median(cell_times), statistics.median(cli_times)
        p95 = sorted(cell_times)[int(0.95 * (len(cell_times) - 1))]
        verdict = "met" if p50 < goal else "MISSED"
        print(f"{functions:>9}  {p50 * 1000:>9.0f}ms  {p95 * 1000:>5.0f}ms  {cached * 1000:>5.0f}ms  "
              f"{cli * 1000:>7.0f}ms  {p50 / cli:>6.2f}  < {goal * 1000:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
