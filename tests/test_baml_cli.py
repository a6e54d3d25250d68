"""The one way baml_magic runs BAML's command line (the generator, the test runner, the optimizer)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from baml_magic.engine import BamlCli


def test_what_baml_cli_says_is_scrubbed_and_a_timeout_stops_it(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    secret = "sk-test-" + "q" * 24
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    refused = BamlCli("generate", "--from", str(tmp_path / f"nowhere-{secret}"))
    said = refused.output(timeout=60)
    assert refused.wait() != 0 and "does not exist" in said, said
    assert secret not in said and "[redacted]" in said


def test_stop_ends_a_run_that_waits_and_its_whole_group(tmp_path: Path) -> None:
    src = tmp_path / "baml_src"
    src.mkdir()
    # A test whose client never answers (a port that accepts nothing: the run retries and waits).
    (src / "main.baml").write_text(
        'client<llm> Nowhere {\n  provider "openai-generic"\n  retry_policy Patient\n'
        '  options {\n    base_url "http://10.255.255.1:9/v1"\n    model "m"\n  }\n}\n'
        "retry_policy Patient {\n  max_retries 3\n}\n"
        'function Ask(q: string) -> string {\n  client Nowhere\n  prompt #"{{ q }}"#\n}\n'
        'test Waits {\n  functions [Ask]\n  args { q "hi" }\n}\n')
    run = BamlCli("test", "--from", str(src), cwd=tmp_path)
    assert run.running
    began = time.monotonic()
    run.stop(grace=1.0)
    assert not run.running and time.monotonic() - began < 7
    with pytest.raises(ProcessLookupError):  # nothing of its process group is left
        os.killpg(run.process.pid, 0)
