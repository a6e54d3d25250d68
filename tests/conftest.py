"""Fixtures: the local model server over real HTTP, an in-process shell that raises, a real kernel.

Markers follow from what a test uses, read from its code, its fixtures' and the module's helpers they call:
``kernel`` (it starts a real ipykernel, or runs a notebook with nbclient), ``browser`` (a Jupyter server and
chromium); ``slow`` is set by hand on the in-process tests that take a second or more. ``make test-fast`` runs
everything else.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import socket
import threading
import types
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


# What starts a real kernel or a browser, wherever a test reaches it: its own body, its fixtures (all the way
# down), and the module's helpers they call.
STARTS = {
    "kernel": re.compile(r"\b(Kernel\(|KernelManager\(|NotebookClient\(|kernel_factory\(|run_notebook\(|"
                         r"build_docs\.sh|run_demo\.py)"),
    "browser": re.compile(r"\b(sync_playwright\(|jupyter_server\()"),
}


def pytest_configure(config: pytest.Config) -> None:
    for name, what in (("kernel", "uses a real ipykernel (or runs a notebook with nbclient)"),
                       ("browser", "drives chromium against a Jupyter server"),
                       ("slow", "takes seconds in process")):
        config.addinivalue_line("markers", f"{name}: {what}")


@functools.cache
def _reaches(function: Callable[..., Any]) -> frozenset[str]:
    """The markers a function earns by what it starts, itself or through the module's functions it calls."""
    found: set[str] = set()
    seen: set[Any] = set()
    todo: list[Any] = [inspect.unwrap(function)]
    while todo:
        current = todo.pop()
        if not inspect.isfunction(current) or current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError, TypeError):
            source = inspect.getsource(current)
            found |= {marker for marker, starts in STARTS.items() if starts.search(source)}
        todo += [current.__globals__.get(name) for name in _names(current.__code__)]
    return frozenset(found)


def _names(code: types.CodeType) -> set[str]:
    """Every global name a function's code reads, its nested functions' and lambdas' included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers follow from what a test uses: its body and every fixture it reaches, read for what they start."""
    for item in items:
        functions = [getattr(item, "function", None)]
        info = getattr(item, "_fixtureinfo", None)
        if info is not None:
            functions += [d.func for defs in info.name2fixturedefs.values() for d in defs]
        markers = set().union(*(_reaches(f) for f in functions if f is not None))
        for marker in sorted(markers):
            item.add_marker(getattr(pytest.mark, marker))


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


@pytest.fixture(scope="module")
def silent() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


__all__ = ["CLIENT", "STORY", "Execution", "Kernel", "TestingShell", "baml_cell"]
