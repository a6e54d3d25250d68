"""A long session in a real kernel: 2,000 calls with the live view, memory flat, no comm left open (issue #12)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CLIENT, STORY

CALLS = 2000
WARM = 300  # the session's kept calls and kept runs (200 each, set below) are full after these


def _rss_mib(kernel, pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_two_thousand_calls_with_the_live_view_keep_memory_flat_and_close_every_comm(kernel) -> None:
    # What the session keeps by design (past calls, runs by version) is bounded here, so any growth is a leak.
    kernel.ok("%config BamlMagic.display = 'widget'\n%config BamlMagic.history = 200\n"
              "%config BamlMagic.runs_kept = 200\nimport os, gc\nfrom comm import get_comm_manager")
    kernel.ok("%%baml\n" + CLIENT.replace('model "local"', 'model "local?tps=100000&words=8"')
              + STORY.replace("GenerateStory", "Quick"))
    pid = int(kernel.ok("print(os.getpid())").printed.strip().splitlines()[-1])
    comms_before = int(kernel.ok("print(len(get_comm_manager().comms))").printed.strip().splitlines()[-1])
    kernel.ok(f"for i in range({WARM}):\n    Quick('owls')\ngc.collect()", timeout=120)
    after_warm = _rss_mib(kernel, pid)
    kernel.ok(f"for i in range({CALLS - WARM}):\n    Quick('owls')\ngc.collect()", timeout=600)
    after_all = _rss_mib(kernel, pid)
    assert after_all - after_warm < 10, f"kernel grew {after_all - after_warm:.1f} MiB from call {WARM} to {CALLS}"
    comms_after = int(kernel.ok("print(len(get_comm_manager().comms))").printed.strip().splitlines()[-1])
    assert comms_after == comms_before, "every widget model opened for a view was closed"
    row = kernel.ok("rows = get_ipython().run_line_magic('baml', 'usage').rows\n"
                    "print([r for r in rows if r[0] == 'Quick'][0][:4])").printed
    assert f"'Quick', '{CALLS}', '0', '0'" in row, row  # every call counted, none failed, though history keeps 200
