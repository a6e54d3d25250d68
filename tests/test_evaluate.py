"""The evaluation grid: test blocks and ad-hoc inputs x clients x repeats, BAML's verdicts, cost (issue #15)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError
from traitlets import TraitError

from baml_magic._types import Usage
from baml_magic.evaluation._grid import GridResult
from baml_magic.observe._prices import cost, price_for
from baml_magic.sources._test_blocks import read_tests
from baml_magic.testing import Kernel, wait_until

CORPUS = Path(__file__).parent / "corpus"

CLIENTS = "".join(f'''
client<llm> {name} {{
  provider "openai-generic"
  options {{
    base_url env.LOCAL_LLM_BASE_URL
    model "{model}"
  }}
}}''' for name, model in (("Alpha", "local?seed=1"), ("Beta", "local?seed=2"), ("Down", "local?fault=http_500"),
                          ("Slowish", "local?tps=40&words=30")))

PROJECT = CLIENTS + '''
enum Mood {
  HAPPY
  SAD
}
class Count {
  n int @check(small, {{ this < 50 }})
  m int
  label string
  mood Mood
}
class Resume {
  name string
  skills string[]
  years int
}
function CountIt(text: string) -> Count {
  client Alpha
  prompt #"Count {{ text }}. {{ ctx.output_format }}"#
}
function Strict(text: string) -> int @assert(negative, {{ this < 0 }}) {
  client Alpha
  prompt #"How many in {{ text }}? {{ ctx.output_format }}"#
}
function ExtractResume(resume: string) -> Resume {
  client Alpha
  prompt #"
    Extract from this resume:
    {{ resume }}
    {{ ctx.output_format }}
  "#
}
test Small {
  functions [CountIt]
  args { text "apples" }
  @@check(small_m, {{ this.m < 50 }})
  @@assert(label, {{ this.label|length > 0 }})
}
test Ordered {
  functions [CountIt, Strict]
  args { text "pears and plums" }
  @@check(low, {{ this.m < 30 }})
  @@assert({{ _.checks.low or this.mood == "HAPPY" }})
}
test Broken {
  functions [CountIt]
  args { text "x" }
  @@check(bad, {{ this.nothing.deeper > 3 }})
}
test NotBool {
  functions [CountIt]
  args { text "figs" }
  @@assert(number, {{ this.m }})
}
test Missing {
  functions [CountIt]
  args { }
}
test Raw {
  functions [ExtractResume]
  args {
    resume #"
      Vaibhav Gupta
      Skills: Rust, C++
      10 years
    "#
  }
  @@assert(fast, {{ _.latency_ms < 60000 }})
  @@check(named, {{ this.name|length > 0 }})
}
test Unquoted {
  functions [CountIt]
  args {
    text lemons and limes
  }
  @@assert(mood, {{ this.mood == "SAD" }})
}
'''


@pytest.fixture
def project(shell, tmp_path: Path):
    (tmp_path / "evals.baml").write_text(PROJECT)
    shell.run_line_magic("baml", f"load {tmp_path}")
    return shell


def test_test_blocks_read_as_data() -> None:
    cases = {t.name: t for t in read_tests({"t.baml": PROJECT})}
    assert cases["Ordered"].functions == ("CountIt", "Strict")
    assert cases["Raw"].args == {"resume": "Vaibhav Gupta\nSkills: Rust, C++\n10 years"}
    assert cases["Unquoted"].args == {"text": "lemons and limes"}
    assert [(c.level, c.label) for c in cases["Ordered"].constraints] == [("check", "low"), ("assert", None)]
    corpus = {t.name: t for t in read_tests({"tests.baml": (CORPUS / "tests" / "tests.baml").read_text()})}
    assert corpus["RankTwo"].args["candidates"][1] == {"name": "Grace", "skills": ["compilers"], "years": 30}


@pytest.mark.slow
def test_verdicts_equal_baml_s_own_runner_on_every_client(project, llm) -> None:
    """Each test x client: the grid's verdict is the one baml-cli test gives with that client."""
    grid = project.run_line_magic("baml", "test --clients Alpha,Beta,Down")
    assert isinstance(grid, GridResult) and grid.status == "done" and len(grid.outcomes) == grid.total == 8 * 3
    ours = {(o.row, o.client): o.verdict for o in grid.outcomes}
    compared = 0
    for client in ("Alpha", "Beta", "Down"):
        project.run_line_magic("baml", f"client {client}")
        table = project.run_line_magic("baml", "test --cli")
        for test, function, result, reason, _ in table.rows:
            theirs = {"pass": "pass", "failed": "fail", "error": "error"}[result]
            assert ours[(f"{function}::{test}", client)] == theirs, (function, test, client, reason)
            compared += 1
    project.run_line_magic("baml", "client --reset")
    assert compared == 24
    verdicts = {v for v in ours.values()}
    assert verdicts == {"pass", "fail", "error"}, "the project exercises every verdict"


def test_repeats_checks_reasons_and_the_data(project, llm) -> None:
    grid = project.run_line_magic("baml", "test CountIt::* --clients Alpha --repeat 3 --concurrency 4")
    assert grid.rows == ["CountIt::Small", "CountIt::Ordered", "CountIt::Broken", "CountIt::NotBool",
                         "CountIt::Missing", "CountIt::Unquoted"]
    small = grid.cell("CountIt::Small", "Alpha")
    assert [o.repeat for o in small] == [0, 1, 2] and "small_m" in small[0].checks
    assert grid.cell("CountIt::NotBool", "Alpha")[0].reason.startswith("Expected true or false, got ")
    assert grid.cell("CountIt::Broken", "Alpha")[0].reason.startswith("Constraint error")
    assert "Missing required" in grid.cell("CountIt::Missing", "Alpha")[0].reason or \
        "missing" in grid.cell("CountIt::Missing", "Alpha")[0].reason
    data = json.loads(grid.to_json())
    assert len(data["outcomes"]) == 18 and data["summary"]["Alpha"]["runs"] == 18
    assert data["outcomes"][0]["value"]["label"]
    assert project.run_line_magic("baml", "test --last") is grid
    with pytest.raises(UsageError, match="no test block matches Nope"):
        project.run_line_magic("baml", "test Nope")
    with pytest.raises(UsageError, match="repeat"):
        project.run_line_magic("baml", "test --repeat 0")


def test_compare_puts_inputs_against_clients_and_marks_what_differs(project, llm) -> None:
    count = project.user_ns["CountIt"]
    grid = count.compare(["apples", "pears"], clients=["Alpha", "Beta"], repeat=2)
    assert grid.rows == ["1. 'apples'", "2. 'pears'"] and grid.clients == ["Alpha", "Beta"]
    assert all(o.verdict == "done" and o.value is not None for o in grid.outcomes) and len(grid.outcomes) == 8
    assert count.last_compare is grid
    alpha, beta = grid.cell("1. 'apples'", "Alpha")[0], grid.cell("1. 'apples'", "Beta")[0]
    assert alpha.value != beta.value, "two seeds, two answers"
    assert "small" in alpha.checks, "the function's own @check results"
    from baml_magic.evaluation._grid_view import table_html

    page = table_html(grid, True)
    assert 'class="baml-differs"' in page and 'data-final="true"' in page
    assert page.count('data-state="done"') == 4


def test_prices_give_costs_where_known_and_never_a_guess(project, llm) -> None:
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini") == (0.15, 0.60)
    assert price_for("openai/gpt-4o") == (2.50, 10.00) and price_for("my-own-model") is None
    assert cost(Usage(1_000_000, 1_000_000), (1.0, 2.0)) == 3.0 and cost(Usage(5, 5), None) is None
    grid = project.run_line_magic("baml", "test Small --clients Alpha")
    assert grid.outcomes[0].cost is None and grid.summary()["Alpha"]["cost"] is None
    project.run_line_magic("config", "BamlMagic.prices = {'local': (1.0, 2.0)}")
    grid = project.run_line_magic("baml", "test Small --clients Alpha")
    run = grid.outcomes[0]
    assert run.cost == pytest.approx((run.tokens_in * 1.0 + run.tokens_out * 2.0) / 1e6)
    assert grid.summary()["Alpha"]["cost"] == pytest.approx(run.cost)
    project.user_ns["CountIt"].map(["a", "b"])
    assert "$" in repr(project.user_ns["CountIt"].last_map)
    usage = {r[0]: r for r in project.run_line_magic("baml", "usage").rows}
    assert usage["CountIt"][6].startswith("$")
    magic = project.magics_manager.registry["BamlMagic"]
    with pytest.raises(TraitError, match="per million"):
        magic.prices = {"local": "cheap"}
    assert magic.prices == {"local": (1.0, 2.0)}, "a bad price changes nothing"


@pytest.mark.slow
def test_the_offline_model_can_make_clients_differ_fail_and_vary(llm) -> None:
    import urllib.request

    def ask(model: str) -> tuple[int, str]:
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Say hi"}]}).encode()
        request = urllib.request.Request(f"{llm.base_url}/chat/completions", body,
                                         {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())["choices"][0]["message"]["content"]
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    assert ask("local?seed=1") == ask("local?seed=1") != ask("local?seed=2")
    varied = {ask("local?vary=1")[1] for _ in range(5)}
    assert len(varied) == 5
    statuses = [ask("local?error_rate=0.5&seed=3")[0] for _ in range(40)]
    assert 8 < statuses.count(500) < 32 and statuses.count(200) == 40 - statuses.count(500)


@pytest.fixture(scope="module")
def grid_kernel(llm, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("grid")
    (folder / "evals.baml").write_text(PROJECT.replace("client Alpha", "client Slowish"))
    kernel = Kernel(folder)
    kernel.ok("%load_ext baml_magic")
    kernel.ok(f"%baml load {folder}")
    yield kernel
    kernel.shutdown()


def test_an_interrupt_mid_grid_closes_every_connection_and_keeps_the_partial_grid(grid_kernel, llm) -> None:
    llm.reset()
    msg_id, execution = grid_kernel.start("%baml test --clients Slowish --repeat 5 --concurrency 6")
    wait_until(lambda: sum(r["outcome"] == "completed" for r in llm.requests()) >= 8, 30, "8 calls to complete")
    assert sum(r["outcome"] == "running" for r in llm.requests()) > 0, "calls are in flight"
    at = grid_kernel.interrupt()
    grid_kernel.collect(msg_id, execution, timeout=30)
    wait_until(lambda: not [r for r in llm.requests() if r["outcome"] == "running"], what="every request to end")
    closed = [r for r in llm.requests() if r["outcome"] == "client_closed"]
    assert closed and all(r["ended"] - at < 0.05 for r in closed), [round(r["ended"] - at, 3) for r in closed]
    assert not [r for r in llm.requests() if r["outcome"] == "running"]
    assert "KeyboardInterrupt: BAML tests cancelled; finished results are in %baml test --last" in execution.text
    kept = grid_kernel.ok("g = %baml test --last\nprint(g.status, len(g.outcomes), g.total)").text
    status, finished, total = kept.split()[-3:]
    assert status == "cancelled" and 8 <= int(finished) < int(total) == 40


def test_the_grid_fills_live_and_ends_as_a_static_table_in_a_saved_notebook(llm, tmp_path: Path, run_notebook) -> None:
    (tmp_path / "evals.baml").write_text(PROJECT.replace("client Alpha", "client Slowish"))
    cells = ["%load_ext baml_magic", "%baml load .", "%baml test CountIt::Small Strict::* --clients Alpha,Beta "
             "--repeat 3"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    run_notebook(nb, tmp_path)
    outputs = nb.cells[2].outputs
    tables = [o["data"]["text/html"] for o in outputs if "baml-magic-grid\"" in o.get("data", {}).get("text/html", "")]
    assert tables and 'data-final="true"' in tables[-1] and tables[-1].count('data-state="done"') == 4
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})], \
        "the live widget was replaced by the static table"
    result = next(o for o in outputs if o.output_type == "execute_result")["data"]
    assert "baml-magic-grid-summary" in result["text/html"] and "Alpha" in result["text/plain"]
