"""Made tests against the same tests written by hand: what a prompt edit costs, and how soon tests run.

Written by hand, N ``test`` blocks sit in the project every function compiles with; made with
``Fn.tests_from``, they are kept apart (the runtime never compiles them). Measured in the same run, on the
offline model:
  edit   re-running the functions' cell with an edited prompt, with the N tests in the project (written) or made;
  slice  ``%baml test Fn::row_00*`` (nine tests) from the cell's start to its end;
  cli    ``%baml test --cli Fn`` over all N (BAML's runner; made tests run in chunks of 500);
and, for the made side alone, the same figures at 5,000 rows.
Run: ``python benchmarks/made_tests.py [N]`` (default 800).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time

from baml_magic import local_llm
from baml_magic.testing import TestingShell

N = int(sys.argv[1]) if len(sys.argv) > 1 else 800
BIG = 5000

PROJECT = '''
client<llm> Local {{
  provider "openai-generic"
  options {{
    base_url env.LOCAL_LLM_BASE_URL
    model "local"
  }}
}}
enum Category {{
  BILLING
  TECHNICAL
}}
function Classify(text: string) -> Category {{
  client Local
  prompt #"Is this a {leaning} question? {{{{ text }}}}
  {{{{ ctx.output_format }}}}"#
}}
'''


def written(n: int) -> str:
    return "".join(f'test row_{i:0{len(str(n))}d} {{\n  functions [Classify]\n  args {{\n    text "ticket {i}"\n  }}\n'
                   f'  @@assert(expected, {{{{ this == "BILLING" }}}})\n}}\n' for i in range(1, n + 1))


def timed(shell: TestingShell, cell: str) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = shell.run_cell(cell)
    if not result.success:
        raise SystemExit(f"cell failed: {result.error_in_exec or result.error_before_exec}")
    return time.perf_counter() - started


def fresh() -> TestingShell:
    TestingShell.clear_instance()
    shell = TestingShell.instance()
    shell.run_line_magic("load_ext", "baml_magic")
    shell.run_line_magic("config", "BamlMagic.display = 'none'")
    return shell


def by_hand(n: int) -> dict[str, float]:
    shell = fresh()
    out = {"first": timed(shell, "%%baml\n" + PROJECT.format(leaning="billing") + written(n))}
    out["edit"] = timed(shell, "%%baml\n" + PROJECT.format(leaning="technical") + written(n))
    out["slice"] = timed(shell, "_ = %baml test Classify::row_00*")
    out["cli"] = timed(shell, "_ = %baml test --cli Classify")
    shell.run_line_magic("unload_ext", "baml_magic")
    return out


def made(n: int, cli: bool = True) -> dict[str, float]:
    shell = fresh()
    timed(shell, "%%baml\n" + PROJECT.format(leaning="billing"))
    shell.user_ns["rows"] = [{"text": f"ticket {i}", "expected": "BILLING"} for i in range(1, n + 1)]
    out = {"first": timed(shell, "_ = Classify.tests_from(rows)")}
    out["edit"] = timed(shell, "%%baml\n" + PROJECT.format(leaning="technical"))
    out["slice"] = timed(shell, "_ = %baml test Classify::row_00*")
    if cli:
        out["cli"] = timed(shell, "_ = %baml test --cli Classify")
    shell.run_line_magic("unload_ext", "baml_magic")
    return out


def main() -> None:
    server = local_llm.start(tps=5000, words=4)
    os.environ["LOCAL_LLM_BASE_URL"] = server.base_url
    try:
        hand, ours, big = by_hand(N), made(N), made(BIG, cli=False)
    finally:
        server.stop()
    print(f"made tests vs the same {N} tests written by hand (seconds; ratio = written / made)")
    for key, what in (("first", "into the project (compile / tests_from)"), ("edit", "a prompt edited"),
                      ("slice", "%baml test on 9 of them"), ("cli", "%baml test --cli on all")):
        print(f"  {what:42s} written {hand[key]:7.2f}  made {ours[key]:7.2f}  x{hand[key] / ours[key]:.1f}")
    print(f"{BIG} made tests: tests_from {big['first']:.2f} s, a prompt edited {big['edit']:.2f} s, "
          f"9 of them run {big['slice']:.2f} s")


if __name__ == "__main__":
    main()
