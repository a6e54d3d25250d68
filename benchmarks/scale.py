"""Cost as work grows: every row of issue #12, each against a baseline measured in the same run.

Rows (real kernels for the live-view rows, an in-process shell for the rest):

- kernel memory per streamed call with the live view, and widget models opened / closed per call,
  against a plain baml-py stream loop in the same kernel;
- compile + bind of a 500-function project against ``baml-cli generate``; an unchanged cell run again;
  a one-function cell edited next to the 500 functions;
- ``await Fn.aio(...)`` interrupted: interrupt -> kernel idle, over 20 runs;
- tiny calls, in one piece (``stream=False``) and streamed (the default): per call against baml-py's
  non-streaming call, its sync stream and its async stream;
- ``Fn.map`` of 1,000 tiny inputs at concurrency 16 against a plain asyncio + semaphore loop;
- the live view's cost at 5,000 tokens/s for answers of 600 and 3,000 tokens, against a plain stream
  (the default live output, and ipywidgets).

Run: ``python benchmarks/scale.py`` (about two minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import baml_py

sys.path.insert(0, str(Path(__file__).parent))
from compile_bind import baml_cli_generate, project

from baml_magic import local_llm
from baml_magic.testing import CLIENT, Kernel, TestingShell

TINY = ('client<llm> Tiny {\n  provider "openai-generic"\n  options {\n    base_url env.LOCAL_LLM_BASE_URL\n'
        '    model "local"\n  }\n}\nfunction Say(x: string) -> string {\n  client Tiny\n  prompt #"Say {{ x }}"#\n}\n')
STREAMED = CLIENT.replace('model "local"', 'model "local?words=WORDS"') + \
    'class Story {\n  title string\n  body string\n}\nfunction Tell(x: string) -> Story {\n  client Fast\n' \
    '  prompt #"A story about {{ x }}. {{ ctx.output_format }}"#\n}\n'


# A plain baml-py stream, as a generated client runs it: every partial cast to the stream types.
PLAIN_STREAM = """
def plain(name, x):
    fn = globals()[name]
    rt, types = fn.compiled.engine.runtime, fn.compiled.types
    def cast(result):
        if result.is_ok():
            result.cast_to(types.types, types.types, types.stream_types, True, rt)
    ctx = rt.create_context_manager()
    stream = rt.stream_function_sync(name, {"x": x}, cast, ctx, None, None, [], dict(os.environ), {})
    return stream.done(ctx).cast_to(types.types, types.types, types.stream_types, False, rt)
"""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def quiet_cell(shell: TestingShell, text: str, cell_id: str) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_cell("%%baml\n" + text, cell_id=cell_id)
    return time.perf_counter() - started


def compile_rows(shell: TestingShell) -> None:
    times, cli = [], []
    for salt in range(5):
        source = project(500, 1000 + salt)
        times.append(quiet_cell(shell, source, "big"))
        cli.append(baml_cli_generate(source))
    p50, base = statistics.median(times), statistics.median(cli)
    print(f"compile + bind, 500 functions: {ms(p50)} (min {ms(min(times))}, max {ms(max(times))}); "
          f"baml-cli generate {ms(base)}; ratio {p50 / base:.2f} (goal <= 1.5)")
    unchanged = [quiet_cell(shell, source, "big") for _ in range(5)]  # the last source again
    print(f"unchanged 500-function cell run again: median {ms(statistics.median(unchanged))}, max "
          f"{ms(max(unchanged))} (goal <= 50 ms)")
    small = 'function Extra(t: string) -> string {\n  client Fast\n  prompt #"PROMPT {{ t }}"#\n}\n'
    edits = [quiet_cell(shell, small.replace("PROMPT", f"Version {i}"), "small") for i in range(5)]
    print(f"edit a 1-function cell next to 500 functions: median {ms(statistics.median(edits))}, max "
          f"{ms(max(edits))}; the whole 500-function compile above: {ms(p50)}")


def tiny_rows(shell: TestingShell, n: int = 150, rounds: int = 7) -> None:
    quiet_cell(shell, TINY, "tiny")
    fn = shell.user_ns["Say"]
    runtime = fn.compiled.engine.runtime
    env = dict(os.environ)

    whole = fn.with_options(stream=False)

    def ours() -> None:
        fn("a")

    def one_piece() -> None:
        whole("a")

    def sync_call() -> None:
        runtime.call_function_sync("Say", {"x": "a"}, runtime.create_context_manager(), None, None, [], env, {})

    def sync_stream() -> None:
        stream = runtime.stream_function_sync("Say", {"x": "a"}, None, runtime.create_context_manager(), None,
                                              None, [], env, {})
        stream.done(runtime.create_context_manager())

    loop = asyncio.new_event_loop()

    def async_stream() -> None:  # what cancellation needs: BAML's async stream, awaited on a loop
        async def one() -> None:
            controller = baml_py.AbortController()
            ctx = runtime.create_context_manager()
            stream = runtime.stream_function("Say", {"x": "a"}, None, ctx, None, None, [], env,  # type: ignore[call-arg]
                                             tags={}, on_tick=None, abort_controller=controller)
            await stream.done(ctx)

        loop.run_until_complete(one())

    steps = {"ours": ours, "whole": one_piece, "call": sync_call, "stream": sync_stream, "async": async_stream}
    for step in steps.values():
        for _ in range(20):
            step()
    # Interleaved rounds, so a drift of the machine weighs on every step alike; ratios per round.
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(n):
                step()
            times[name].append((time.perf_counter() - started) / n)
    per = {name: statistics.median(values) for name, values in times.items()}

    def ratio(ours: str, base: str) -> str:
        values = sorted(o / b for o, b in zip(times[ours], times[base], strict=True))
        return f"ratio {statistics.median(values):.2f} (min {values[0]:.2f}, max {values[-1]:.2f})"

    print(f"tiny calls, per call, {rounds} interleaved rounds of {n}; baseline baml-py call_function_sync "
          f"{ms(per['call'])}:")
    print(f"  Fn.with_options(stream=False) (or BamlMagic.stream = False) {ms(per['whole'])}: "
          f"{ratio('whole', 'call')} (goal <= 1.2)")
    print(f"  Fn() streaming (the default) {ms(per['ours'])}: {ratio('ours', 'call')}; against baml-py's own "
          f"streams: stream_function_sync {ms(per['stream'])} {ratio('ours', 'stream')}, the async stream "
          f"(what cancellation needs) {ms(per['async'])} {ratio('ours', 'async')}")

    async def plain_map(count: int) -> None:
        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with gate:
                controller = baml_py.AbortController()
                await runtime.call_function("Say", {"x": str(i)}, runtime.create_context_manager(), None, None, [],
                                            env, {}, abort_controller=controller)

        await asyncio.gather(*(one(i) for i in range(count)))

    mapped, plain = [], []
    for _ in range(3):  # interleaved, ratios per round
        started = time.perf_counter()
        fn.map([str(i) for i in range(1000)], concurrency=16)
        mapped.append(time.perf_counter() - started)
        started = time.perf_counter()
        asyncio.run(plain_map(1000))
        plain.append(time.perf_counter() - started)
    map_ratios = sorted(m / p for m, p in zip(mapped, plain, strict=True))
    print(f"Fn.map of 1,000 tiny inputs at concurrency 16: {statistics.median(mapped):.2f} s; plain asyncio + "
          f"semaphore {statistics.median(plain):.2f} s; ratio {statistics.median(map_ratios):.2f} "
          f"(min {map_ratios[0]:.2f}, max {map_ratios[-1]:.2f}) (goal <= 1.2)")


def rss_kib(kernel: Kernel, pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def kernel_rows(llm: local_llm.LocalLLM, calls: int = 600) -> None:
    kernel = Kernel(Path(tempfile.mkdtemp()))
    try:
        kernel.ok("%load_ext baml_magic\nimport os, gc, time")
        kernel.ok("%%baml\n" + STREAMED.replace("WORDS", "12"))
        pid = int(kernel.ok("print(os.getpid())").printed.strip().splitlines()[-1])
        loop = f"for i in range({calls // 6}):\n    Tell('owls')\ngc.collect()"
        # Warm up past the session's history (1,000 calls kept): from then on a session must stay flat.
        kernel.ok("for i in range(1000):\n    Tell('owls')\ngc.collect()", timeout=600)
        before = rss_kib(kernel, pid)
        opened = closed = 0
        for _ in range(6):
            execution = kernel.run(loop, timeout=600)
            opened += len(execution.of_type("comm_open"))
            closed += sum(1 for m in execution.of_type("comm_msg") if m["content"]["data"].get("method") == "close")
            closed += len(execution.of_type("comm_close"))
        ours = (rss_kib(kernel, pid) - before) / calls
        per_call_open = opened / calls
        kernel.ok(PLAIN_STREAM)
        baseline_loop = f"for i in range({calls // 6}):\n    plain('Tell', 'owls')\ngc.collect()"
        kernel.ok(baseline_loop, timeout=600)
        before = rss_kib(kernel, pid)
        for _ in range(6):
            kernel.ok(baseline_loop, timeout=600)
        plain = (rss_kib(kernel, pid) - before) / calls
        print(f"kernel memory per streamed call with the live view: {ours:.2f} KiB over {calls} calls after the first "
              f"1,000 (the history's size); "
              f"plain baml-py stream loop {plain:.2f} KiB (goal <= 5 KiB, flat)")
        widget_calls = 60
        kernel.ok("%config BamlMagic.display = 'widget'")
        execution = kernel.run(f"for i in range({widget_calls}):\n    Tell('owls')", timeout=600)
        kernel.ok("%config BamlMagic.display = 'auto'")
        widget_opened = len(execution.of_type("comm_open"))
        widget_closed = len(execution.of_type("comm_close")) + sum(
            1 for m in execution.of_type("comm_msg") if m["content"]["data"].get("method") == "close")
        print(f"widget models per call: the live output (default) {per_call_open:.1f} opened, {closed / calls:.1f} "
              f"closed; display='widget' {widget_opened / widget_calls:.1f} opened, "
              f"{widget_closed / widget_calls:.1f} closed (goal: all closed)")

        kernel.ok("%%baml\n" + STREAMED.replace("WORDS", "80").replace("Fast", "Slow").replace(
            'model "local?words=80"', 'model "local?tps=40&words=80"').replace("Tell", "SlowTell"))
        idle = []
        for i in range(20):
            msg_id, execution = kernel.start(f"story = await SlowTell.aio('storm {i}')")
            time.sleep(0.6)
            at = kernel.interrupt()
            kernel.collect(msg_id, execution, timeout=30)
            idle.append((execution.idle_at or at) - at)
        print(f"await Fn.aio interrupt -> kernel idle over 20 runs: median {ms(statistics.median(idle))}, max "
              f"{ms(max(idle))} (goal: max <= 50 ms)")

        for words in (600, 3000):
            kernel.ok("%%baml\n" + STREAMED.replace("WORDS", str(words)).replace('model "local?',
                                                                                'model "local?tps=5000&'))
            for mode in ("auto", "widget"):
                kernel.ok(f"%config BamlMagic.display = '{mode}'")
                ours_wall, plain_wall = [], []
                for _ in range(5):  # each of ours next to a plain stream, so drift weighs on both alike
                    ours_wall.append(float(kernel.ok(
                        "t = time.perf_counter(); Tell('x'); print(time.perf_counter() - t)").printed))
                    plain_wall.append(float(kernel.ok(
                        "t = time.perf_counter(); plain('Tell', 'x'); print(time.perf_counter() - t)").printed))
                ratios = sorted(o / p for o, p in zip(ours_wall, plain_wall, strict=True))
                view = "the live output (default)" if mode == "auto" else "ipywidgets (display='widget')"
                print(f"view cost at 5,000 tok/s, {words} words, {view}: Fn() {statistics.median(ours_wall):.3f} s, "
                      f"plain stream {statistics.median(plain_wall):.3f} s, ratio {statistics.median(ratios):.3f} "
                      f"(min {ratios[0]:.3f}, max {ratios[-1]:.3f}){' (goal <= 1.02)' if mode == 'auto' else ''}")
            kernel.ok("%config BamlMagic.display = 'auto'")
    finally:
        kernel.shutdown()


def main() -> None:
    os.environ.setdefault("BAML_MAGIC_CACHE", tempfile.mkdtemp(prefix="baml_magic_bench_"))
    llm = local_llm.start(tps=1e6, words=1)
    os.environ["LOCAL_LLM_BASE_URL"] = llm.base_url
    try:
        shell = TestingShell.instance()
        shell.run_line_magic("load_ext", "baml_magic")
        shell.run_line_magic("config", "BamlMagic.display = 'none'")
        compile_rows(shell)
        tiny_rows(shell)
        kernel_rows(llm)
    finally:
        llm.stop()


if __name__ == "__main__":
    main()
