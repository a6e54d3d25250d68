"""What tracing costs a tiny call: off against on, and off against before tracing existed.

In one process, 15 interleaved rounds of 200 tiny calls (3 words at 100,000 tokens/s from the offline
model), in one piece and streamed:
  baseline  baml-py's own ``call_function_sync`` (what a call costs without baml_magic);
  off       ``Fn()`` with tracing off (OpenTelemetry is not even imported);
  on        ``Fn()`` with ``%baml trace on``, spans going through the OpenTelemetry SDK's batch
            processor to an exporter that counts them and lets them go (the network is not what is
            measured, and an exporter that kept 6,000 spans would measure the garbage collector).
Goals: on <= 1.05 x off; off within noise of the same call before tracing existed (see scale.py).
Run: ``python benchmarks/tracing.py``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from baml_magic import local_llm
from baml_magic.testing import CLIENT, TestingShell

ROUNDS, CALLS = 15, 200


def main() -> None:
    server = local_llm.start(tps=100_000, words=3)
    os.environ["LOCAL_LLM_BASE_URL"] = server.base_url
    shell = TestingShell.instance()
    shell.run_line_magic("load_ext", "baml_magic")
    shell.run_line_magic("config", "BamlMagic.display = 'none'")
    shell.run_cell("%%baml\n" + CLIENT + 'function Say(x: string) -> string {\n  client Fast\n'
                   '  prompt #"Say {{ x }}"#\n}\n')
    say = shell.user_ns["Say"]
    whole = say.with_options(stream=False)
    runtime = say.compiled.engine.runtime
    env = dict(os.environ)

    def baseline() -> None:
        runtime.call_function_sync("Say", {"x": "a"}, runtime.create_context_manager(), None, None, [], env, {})

    magic = shell.magics_manager.registry["BamlMagic"]
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Counting(SpanExporter):  # type: ignore[misc]
        def __init__(self) -> None:
            self.count = 0

        def export(self, spans: object) -> SpanExportResult:
            self.count += len(spans)  # type: ignore[arg-type]
            return SpanExportResult.SUCCESS

    exporter = Counting()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    kinds: dict[str, tuple[bool, Callable[[], object]]] = {
        "baseline": (False, baseline),
        "off, one piece": (False, lambda: whole("a")), "on, one piece": (True, lambda: whole("a")),
        "off, streamed": (False, lambda: say("a")), "on, streamed": (True, lambda: say("a")),
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for round_ in range(ROUNDS + 1):  # the first round warms up
        for name, (on, call) in kinds.items():
            magic.trace = on  # switched outside the timed loop (switching off flushes)
            started = time.perf_counter()
            for _ in range(CALLS):
                call()
            if round_:
                times[name].append((time.perf_counter() - started) / CALLS)
    magic.trace = False
    provider.force_flush()
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"tiny calls, {ROUNDS} interleaved rounds of {CALLS}; baml-py call_function_sync "
          f"{median['baseline'] * 1000:.2f} ms")
    for style in ("one piece", "streamed"):
        off, on = median[f"off, {style}"], median[f"on, {style}"]
        per_round = [a / b for a, b in zip(times[f"on, {style}"], times[f"off, {style}"], strict=True)]
        print(f"  {style}: off {off * 1000:.2f} ms, on {on * 1000:.2f} ms: on/off {on / off:.3f} "
              f"(per round {min(per_round):.3f}-{max(per_round):.3f}) (goal <= 1.05); "
              f"off/baseline {off / median['baseline']:.2f}")
    print(f"spans exported: {exporter.count}")
    server.stop()


if __name__ == "__main__":
    main()
