"""BAML v1 (experimental): recompile time of an edited cell, and cancel -> connection closed.

Baselines, measured in the same run:
  compile  the bridge's own ``BamlRuntime.initialize_runtime`` of the same files (what a compile costs
           without our reflection, types and binding), and a v0 cell of the same shape;
  cancel   a bare bridge call (``call_function`` awaited on a loop, its task cancelled), against
           ``Fn.start(...).cancel()`` of the same function through baml_magic, one-piece and streamed.
The closed connection is what local_llm saw. Run: ``python benchmarks/v1.py [ROUNDS]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import statistics
import sys
import threading
import time

from baml_magic import local_llm
from baml_magic.testing import CLIENT, TestingShell, wait_until

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def v1_project(functions: int, salt: int, base_url: str) -> str:
    parts = [f"// round {salt}",
             f'client Fast = openai.GenericClient.new(model = "local", base_url = "{base_url}")',
             f'client Slow = openai.GenericClient.new(model = "local?tps=20&words=300", base_url = "{base_url}")']
    for i in range(functions):
        parts.append(f"class Item{i} {{\n  name: string,\n  score: float,\n  tags: string[],\n}}\n"
                     f"function Fn{i}(text: string) -> Item{i}[] {{\n  client: Fast\n"
                     f"  prompt: `Extract items from ${{text}}. ${{ctx.output_format()}}`\n}}\n")
    parts.append("function Ramble(topic: string) -> string {\n  client: Slow\n  prompt: `Ramble on ${topic}.`\n}\n")
    return "\n".join(parts)


def v0_project(functions: int, salt: int) -> str:
    parts = [f"// round {salt}", CLIENT]
    for i in range(functions):
        parts.append(f"class Item{i} {{\n  name string\n  score float\n  tags string[]\n}}\n"
                     f"function Fn{i}(text: string) -> Item{i}[] {{\n  client Fast\n"
                     f'  prompt #"Extract items from {{{{ text }}}}. {{{{ ctx.output_format }}}}"#\n}}\n')
    return "\n".join(parts)


def timed_cell(shell: TestingShell, cell: str) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_cell(cell, cell_id="bench")
    return time.perf_counter() - started


def closed_after(llm: local_llm.LocalLLM, cancel: object) -> float:
    """Seconds from ``cancel()`` to the server seeing the connection closed, once the request is streaming."""
    def started() -> bool:
        seen = llm.requests()
        return bool(seen) and seen[-1]["outcome"] == "running" and (seen[-1]["tokens_sent"] >= 5
                                                                    or not seen[-1]["stream"])

    wait_until(started, what="the request", timeout=30)
    at = time.time()
    cancel()  # type: ignore[operator]
    wait_until(lambda: llm.requests()[-1]["outcome"] != "running", what="the close", timeout=10)
    return float(llm.requests()[-1]["ended"]) - at


def bare_bridge_cancel(llm: local_llm.LocalLLM, stream: bool) -> float:
    """The bridge alone: a call (or a stream, read to its end) awaited on a loop, its task cancelled."""
    from baml_bridge import _stream

    from baml_magic.engine.v1._bridge import bridge

    bb = bridge()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def call() -> object:
        handle = None
        call_id = bb.new_function_call()
        name = "user.Ramble@stream" if stream else "user.Ramble"
        args = bb.encode_call_args({"topic": "tides"}, call_id, function_name=name)
        try:
            if not stream:
                return await bb.get_runtime().call_function(args)
            handle = _stream._decode_stream_result(await bb.get_runtime().call_function(args, stream=True),
                                                   asynchronous=True)
            async for _ in handle:
                pass
            return None
        except asyncio.CancelledError:
            bb.cancel_function_call(call_id)
            raise
        finally:
            if handle is not None:  # its connection closes once nothing holds its handle (as V1Call does)
                handle._handle = None

    future = asyncio.run_coroutine_threadsafe(call(), loop)
    seconds = closed_after(llm, lambda: loop.call_soon_threadsafe(lambda: [t.cancel() for t in
                                                                           asyncio.all_tasks(loop)]))
    with contextlib.suppress(BaseException):
        future.result(5)
    loop.call_soon_threadsafe(loop.stop)
    return seconds


def main() -> None:
    llm = local_llm.start(tps=200, words=20)
    shell = TestingShell.instance()
    shell.run_line_magic("load_ext", "baml_magic")
    shell.run_line_magic("config", "BamlMagic.display = 'none'")
    from baml_magic.engine.v1._bridge import DESCRIBE_FILE, bridge

    bb = bridge()
    cells, raw, v0 = [], [], []
    for r in range(ROUNDS):
        source = v1_project(20, r, llm.base_url)
        cells.append(timed_cell(shell, "%%baml --engine v1\n" + source))
        started = time.perf_counter()
        bb.BamlRuntime.initialize_runtime("baml_src", {"cells/raw.baml": source, DESCRIBE_FILE: ""})
        raw.append(time.perf_counter() - started)
        v0.append(timed_cell(shell, "%%baml\n" + v0_project(20, r).replace("LOCAL_LLM_BASE_URL", "X")))
    timed_cell(shell, "%%baml --engine v1\n" + v1_project(20, ROUNDS, llm.base_url))  # the program calls use
    cell, bare, old = statistics.median(cells), statistics.median(raw), statistics.median(v0)
    print(f"recompile of an edited 20-function v1 cell: {cell:.2f} s (p50 of {ROUNDS}); the bridge's own "
          f"initialize_runtime {bare:.2f} s (ratio {cell / bare:.2f}); a v0 cell of the same shape {old:.2f} s "
          f"(ratio {cell / old:.1f}); goal < 1.5 s: {'met' if cell < 1.5 else 'MISSED'}")
    ramble = shell.user_ns["Ramble"]
    plain = [closed_after(llm, ramble._open_run(("tides",), {}, foreground=False, stream=False).cancel)
             for _ in range(ROUNDS)]
    streamed = [closed_after(llm, ramble.start("tides").cancel) for _ in range(ROUNDS)]
    for label, figures, stream in (("one-piece call", plain, False), ("stream", streamed, True)):
        b = statistics.median([bare_bridge_cancel(llm, stream) for _ in range(ROUNDS)])
        m = statistics.median(figures)
        print(f"cancel -> connection closed, {label}: {m * 1000:.1f} ms p50 (max {max(figures) * 1000:.1f} ms); "
              f"the bridge alone {b * 1000:.1f} ms (ratio {m / b:.2f})")
    llm.stop()


if __name__ == "__main__":
    main()
