"""Fixtures: the local model server over real HTTP, an in-process shell that raises, a real kernel.

Markers come from the fixtures a test uses: ``kernel`` (a real ipykernel, or a notebook run by
nbclient), ``browser`` (a Jupyter server and chromium); ``slow`` is set by hand on the few in-process
tests that take seconds. ``make test-fast`` runs everything else.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
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


KERNEL_FIXTURES = {"kernel", "kernel_factory", "run_notebook", "story_kernel", "grid_kernel", "hostile", "traced"}
BROWSER_FIXTURES = {"lab", "page", "server", "browser", "site"}


def pytest_configure(config: pytest.Config) -> None:
    for name, what in (("kernel", "uses a real ipykernel (or runs a notebook with nbclient)"),
                       ("browser", "drives chromium against a Jupyter server"),
                       ("slow", "takes seconds in process")):
        config.addinivalue_line("markers", f"{name}: {what}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if used & KERNEL_FIXTURES:
            item.add_marker(pytest.mark.kernel)


@pytest.fixture
def kernel_factory() -> Iterator[Callable[[Path], Kernel]]:
    """Real kernels started in a folder, each shut down at the end of the test."""
    started: list[Kernel] = []

    def start(cwd: Path) -> Kernel:
        started.append(Kernel(cwd))
        return started[-1]

    yield start
    for kernel in started:
        kernel.shutdown()


@pytest.fixture
def run_notebook() -> Callable[..., Any]:
    """Execute a notebook with nbclient in a folder, as papermill or nbconvert would."""
    from nbclient import NotebookClient

    def execute(nb: Any, cwd: Path, **options: Any) -> Any:
        return NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                              **options).execute()

    return execute


@pytest.fixture(scope="module")
def kernel(llm: local_llm.LocalLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = Kernel(tmp_path_factory.mktemp("kernel_cwd"))
    k.ok("%load_ext baml_magic")
    yield k
    k.shutdown()


__all__ = ["CLIENT", "STORY", "Execution", "Kernel", "TestingShell", "baml_cell"]
