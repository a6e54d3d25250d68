"""Fixtures: the local model server over real HTTP, an in-process shell that raises, a real kernel."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from baml_magic import local_llm
from baml_magic.testing import CLIENT, STORY, Execution, Kernel, TestingShell


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["BAML_MAGIC_CACHE"] = str(tmp_path_factory.mktemp("baml_cache"))


@pytest.fixture(scope="session")
def llm() -> Iterator[local_llm.LocalLLM]:
    """The bundled model server, in its own process, at 200 tokens/s (fast tests)."""
    server = local_llm.start(tps=200, words=20)
    os.environ["LOCAL_LLM_BASE_URL"] = server.base_url
    yield server
    server.stop()


@pytest.fixture
def shell(llm: local_llm.LocalLLM) -> Iterator[TestingShell]:
    sh = TestingShell.instance()
    sh.run_line_magic("load_ext", "baml_magic")
    sh.run_line_magic("config", "BamlMagic.display = 'none'")
    yield sh
    sh.run_line_magic("unload_ext", "baml_magic")
    TestingShell.clear_instance()


def baml_cell(shell: TestingShell, text: str) -> Any:
    return shell.run_cell("%%baml\n" + text.strip("\n") + "\n")


@pytest.fixture(scope="module")
def kernel(llm: local_llm.LocalLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = Kernel(tmp_path_factory.mktemp("kernel_cwd"))
    k.ok("%load_ext baml_magic")
    yield k
    k.shutdown()


__all__ = ["CLIENT", "STORY", "Execution", "Kernel", "TestingShell", "baml_cell"]
