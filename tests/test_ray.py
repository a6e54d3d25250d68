"""Fn.map(..., engine="ray") on a real two-node Ray cluster (a head and a worker node, separate processes on
127.0.0.2 and 127.0.0.3), driven from a real kernel, against the offline model: typed results in order, the
limit held across both nodes as the server counts requests, an interrupt that closes every open request, a
killed worker that loses no row, answers kept across a restart, keys read from the workers' own environment."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from baml_magic.testing import CLIENT, Kernel, wait_until
from baml_magic.testing.ray_cluster import ray_cluster
from tests.conftest import baml_cell

FUNCTIONS = """
class Item {
  name string
  score int
}
function Rate(text: string) -> Item {
  client Quick
  prompt #"Rate: {{ text }} {{ ctx.output_format }}"#
}
function RateSlowly(text: string) -> Item {
  client Slow
  prompt #"Rate slowly: {{ text }} {{ ctx.output_format }}"#
}
function RateSteadily(text: string) -> Item {
  client Steady
  prompt #"Rate steadily: {{ text }} {{ ctx.output_format }}"#
}
function RateKeyed(text: string) -> Item {
  client Keyed
  prompt #"Rate with a key: {{ text }} {{ ctx.output_format }}"#
}
function RateUnkeyed(text: string) -> Item {
  client Unkeyed
  prompt #"Rate without a key: {{ text }} {{ ctx.output_format }}"#
}
"""


def _client(name: str, model: str, key: str = "") -> str:
    text = CLIENT.replace("Fast", name).replace('model "local"', f'model "{model}"')
    return text.replace("options {", "options {\n    api_key env." + key, 1) if key else text


CELL = "%%baml\n" + "".join([_client("Quick", "local?seconds=0.05&words=3"), _client("Slow", "local?seconds=2"),
                             _client("Steady", "local?seconds=0.5"),
                             _client("Keyed", "local?seconds=0.05", "RAY_ONLY_KEY"),
                             _client("Unkeyed", "local?seconds=0.05", "NOWHERE_KEY")]) + FUNCTIONS


@pytest.fixture(scope="module")
def ray_kernel(kernel: Kernel, llm) -> Iterator[Kernel]:
    env = {**os.environ, "RAY_ONLY_KEY": "worker-only-key-7731"}  # the workers' environment, not the kernel's
    with ray_cluster(env) as address:
        kernel.ok(f"import ray, json\nray.init(address={address!r}, logging_level='ERROR', log_to_driver=False)",
                  timeout=120)
        kernel.ok("%config BamlMagic.display = 'none'")
        kernel.ok(CELL)
        kernel.ok("ITEM = Rate.compiled.types.types.Item")  # the kernel's own generated class
        yield kernel
        kernel.ok("ray.shutdown()")


def _facts(kernel: Kernel, expression: str) -> object:
    return json.loads(kernel.ok(f"print(json.dumps({expression}))").printed.strip().splitlines()[-1])


def _most_in_a_window(starts: list[float], window: float) -> int:
    starts, most, first = sorted(starts), 0, 0
    for last, at in enumerate(starts):
        while at - starts[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.mark.slow
def test_a_thousand_typed_results_in_order_within_the_limit_across_both_nodes(ray_kernel: Kernel, llm) -> None:
    llm.reset()
    ray_kernel.ok("texts = [f'item {i}' for i in range(1000)]\n"
                  "out = Rate.map(texts, concurrency=32, engine='ray', rpm=3000)", timeout=180)
    facts = _facts(ray_kernel, "{'n': len(out), 'typed': all(isinstance(o, ITEM) for o in out), "
                               "'order': [r.args['text'] for r in Rate.last_map.runs] == texts, "
                               "'nodes': len({r.node for r in Rate.last_map.runs}), "
                               "'status': str(Rate.last_map.status), 'tokens': Rate.last_map.tokens_out, "
                               "'kept': len(Rate.history.rows())}")
    assert facts == {**facts, "n": 1000, "typed": True, "order": True, "nodes": 2, "status": "done"}, facts
    requests = llm.requests()
    assert len(requests) == 1000 and facts["tokens"] == sum(r["tokens_sent"] for r in requests)
    # rpm=3000 is 500 in any 10 s; the server's clock sees the starts a little apart from the limiter's.
    assert _most_in_a_window([r["started"] for r in requests], 10.0) <= 500 + 2
    assert facts["kept"] >= 1000, "every call is kept in the run history, as a local map's are"


@pytest.mark.slow
def test_an_interrupt_halfway_closes_every_open_request_within_a_second(ray_kernel: Kernel, llm) -> None:
    llm.reset()
    msg_id, execution = ray_kernel.start("RateSlowly.map([f'slow {i}' for i in range(40)], concurrency=8, "
                                         "engine='ray')")
    wait_until(lambda: sum(r["outcome"] == "completed" for r in llm.requests()) >= 16, 60, "16 rows answered")
    wait_until(lambda: llm.stats()["in_flight"] == 8, 10, "8 requests in flight")
    at = ray_kernel.interrupt()
    ray_kernel.collect(msg_id, execution, timeout=30)
    assert execution.reply["content"]["ename"] == "KeyboardInterrupt"
    wait_until(lambda: llm.stats()["in_flight"] == 0, 10, "every request to end")
    cut = [r for r in llm.requests() if r["outcome"] != "completed"]
    assert len(cut) == 8 and all(r["outcome"] == "client_closed" and r["ended"] - at < 1.0 for r in cut), cut
    facts = _facts(ray_kernel, "[str(RateSlowly.last_map.status), RateSlowly.last_map.count('done'), "
                               "RateSlowly.last_map.count('cancelled')]")
    assert facts[0] == "cancelled" and facts[1] >= 16 and facts[2] == 8, facts
    assert _facts(ray_kernel, "Rate('after').score is not None") is True, "the kernel stays usable"


def _callers() -> list[int]:
    """The processes of this cluster's caller actors (their title is Ray's ``ray::Caller...``)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::Caller"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_a_killed_worker_loses_no_row(ray_kernel: Kernel, llm) -> None:
    llm.reset()
    msg_id, execution = ray_kernel.start("killed = RateSteadily.map([f'row {i}' for i in range(48)], concurrency=8, "
                                         "engine='ray')")
    wait_until(lambda: sum(r["outcome"] == "completed" for r in llm.requests()) >= 8, 60, "a first round answered")
    victims = wait_until(_callers, 10, "the callers' processes")
    os.kill(victims[0], signal.SIGKILL)
    ray_kernel.collect(msg_id, execution, timeout=120)
    assert execution.status == "ok", execution.text
    facts = _facts(ray_kernel, "[len(killed), all(isinstance(o, ITEM) for o in killed), "
                               "[r.args['text'] for r in RateSteadily.last_map.runs] == "
                               "[f'row {i}' for i in range(48)], max(r.tries for r in RateSteadily.last_map.runs)]")
    assert facts[:3] == [48, True, True] and facts[3] >= 2, facts


@pytest.mark.slow
def test_rows_answered_before_a_restart_are_not_asked_again(ray_kernel: Kernel, llm, tmp_path: Path) -> None:
    ray_kernel.ok(f"%baml cache on --path {tmp_path / 'cache.db'}")
    llm.reset()
    ray_kernel.ok("first = Rate.map([f'kept {i}' for i in range(20)], engine='ray')", timeout=120)
    assert len(llm.requests()) == 20
    ray_kernel.ok("%reload_ext baml_magic")  # a new session: nothing of the first one in memory
    ray_kernel.ok("%config BamlMagic.display = 'none'")
    ray_kernel.ok(CELL)
    ray_kernel.ok("ITEM = Rate.compiled.types.types.Item")
    ray_kernel.ok(f"%baml cache on --path {tmp_path / 'cache.db'}")
    ray_kernel.ok("again = Rate.map([f'kept {i}' for i in range(30)], engine='ray')", timeout=120)
    assert len(llm.requests()) == 30, "only the ten new rows were asked"
    assert _facts(ray_kernel, "[o.model_dump() for o in again[:20]] == [o.model_dump() for o in first]") is True
    ray_kernel.ok("%baml cache off")


@pytest.mark.slow
def test_keys_come_from_the_workers_environment_and_a_missing_one_is_one_line(ray_kernel: Kernel, llm) -> None:
    assert _facts(ray_kernel, "__import__('os').environ.get('RAY_ONLY_KEY')") is None
    facts = _facts(ray_kernel, "[isinstance(o, ITEM) for o in RateKeyed.map(ray.data.from_items("
                               "[{'text': f'd{i}'} for i in range(4)]), engine='ray')]")
    assert facts == [True] * 4, "a Ray Dataset's rows as inputs, the key read where the call ran"
    execution = ray_kernel.run("RateUnkeyed.map(['a', 'b'], engine='ray')", timeout=120)
    shown = execution.text
    assert "NOWHERE_KEY" in shown and "Traceback" not in shown and len(shown.strip().splitlines()) == 1, shown


def test_a_function_pickles_without_its_secrets(shell, llm, monkeypatch) -> None:
    monkeypatch.setenv("PICKLE_KEY", "sk-pickled-secret-5150")
    baml_cell(shell, _client("Keyed", "local", "PICKLE_KEY") + FUNCTIONS.split("function RateSlowly")[0]
              .replace("client Quick", "client Keyed"))
    blob = pickle.dumps(shell.user_ns["Rate"])
    assert b"sk-pickled-secret-5150" not in blob and b"PICKLE_KEY" in blob
    assert isinstance(pickle.loads(blob)("x").score, int), "the same function, made again from its recipe"


def test_what_cannot_travel_is_one_line_before_any_request(shell, llm, monkeypatch) -> None:
    baml_cell(shell, _client("Written", "local").replace("options {", 'options {\n    api_key "sk-in-the-source-1"')
              + FUNCTIONS.split("function RateSlowly")[0].replace("client Quick", "client Written"))
    llm.reset()
    with pytest.raises(ValueError, match="travels without secrets"):
        pickle.dumps(shell.user_ns["Rate"])
    with pytest.raises(ValueError, match="engine must be 'local' or 'ray'"):
        shell.user_ns["Rate"].map(["a"], engine="spark")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"pip install 'baml_magic\[ray\]'"):
        shell.user_ns["Rate"].map(["a"], engine="ray")
    assert llm.requests() == []
