"""The tests made in a session, kept apart from the compile that binds functions.

``%baml test``, ``--cli``, the gate and ``%baml optimize`` read the project's files joined with these
(``joined``); the runtime never compiles them, so a prompt edited in a cell recompiles no dataset, however
many rows it has. ``MadeTests`` is what making them returns: the names, the ``%%baml`` text to paste, and
``write()`` for a file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from baml_magic.engine import Compiled
from baml_magic.evaluation._baml_tests import with_files_from
from baml_magic.evaluation._made_tests import MadeTest, MadeTestError
from baml_magic.sources import MADE_MARK, split_blocks

FOLDER = "made_tests"  # the files' names, as the grid's rows and BAML's runner tell where a test is
SHOWN = 3  # blocks a long set shows (``text`` has them all)


def project_tests(files: dict[str, str]) -> set[str]:
    """The names of the test blocks in a project's files."""
    return {b.name for text in files.values() for b in split_blocks(text) if b.kind == "test"}


class TestSet:
    """Made tests by name, in the order they were made."""

    def __init__(self) -> None:
        self.tests: dict[str, MadeTest] = {}

    def __len__(self) -> int:
        return len(self.tests)

    def taken(self, compiled: Compiled) -> set[str]:
        """Every test name in use: the project's and the made ones."""
        return project_tests(compiled.files) | set(self.tests)

    def add(self, tests: Iterable[MadeTest]) -> None:
        for test in tests:
            self.tests[test.name] = test

    def forget(self, functions: Iterable[str] | None = None) -> int:
        """Drop the made tests of ``functions`` (all when None); how many went."""
        names = set(functions) if functions is not None else None
        gone = [n for n, t in self.tests.items() if names is None or t.function in names]
        for name in gone:
            del self.tests[name]
        return len(gone)

    def files(self, compiled: Compiled, functions: Iterable[str] | None = None) -> dict[str, str]:
        """A file per function of its made tests (only of ``functions`` when given), those the project does not
        hold already (a written file, loaded again, is the project's)."""
        wanted = set(functions) if functions is not None else None
        present = project_tests(compiled.files)
        by_function: dict[str, list[str]] = {}
        for test in self.tests.values():
            if test.name not in present and (wanted is None or test.function in wanted):
                by_function.setdefault(test.function, []).append(test.text)
        return {f"{FOLDER}/{function}.baml": MADE_MARK + "\n" + "\n".join(texts)
                for function, texts in by_function.items()}

    def joined(self, compiled: Compiled, functions: Iterable[str] | None = None) -> Compiled:
        """The compiled project as the test runners see it: its files and the made tests (a relative media path
        in one is the notebook's, as in a cell)."""
        made = self.files(compiled, functions)
        if not made:
            return compiled
        origins = {**compiled.origins, **{name: Path.cwd() / Path(name).name for name in made}}
        return dataclasses.replace(compiled, files={**compiled.files, **made}, origins=origins)


class MadeTests:
    """Tests just made: in the session's project already (``%baml test`` runs them), and shown ready to paste."""

    def __init__(self, tests: list[MadeTest], folder: Path | None) -> None:
        self.tests = tests
        self.folder = folder  # the loaded folder of the function, where ``write()`` puts a file

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tests]

    @property
    def text(self) -> str:
        """The tests' BAML, for a ``%%baml`` cell or a ``.baml`` file."""
        return "\n".join(t.text for t in self.tests)

    def __len__(self) -> int:
        return len(self.tests)

    def write(self, path: str | Path | None = None) -> Path:
        """Write the tests to a new ``.baml`` file (default: next to the function's file, for a loaded folder);
        an existing file is never overwritten. BAML's runner reads it as it is; ``%baml load`` keeps it out of the
        compile that binds functions."""
        if path is None:
            if self.folder is None:
                raise MadeTestError("the function is defined in a cell: paste the %%baml text shown, or give "
                                      "write() a path")
            function = self.tests[0].function if self.tests else "made"
            target, n = self.folder / f"{function}_tests.baml", 2
            while target.exists():
                target, n = self.folder / f"{function}_tests_{n}.baml", n + 1
        else:
            target = Path(path)
            if target.is_dir():
                raise MadeTestError(f"{target} is a folder: give write() a file name ending in .baml")
            if target.suffix != ".baml":
                raise MadeTestError(f"{target}: BAML reads only .baml files")
            if target.exists():
                raise MadeTestError(f"{target} exists already: nothing was written (give another name)")
        text = with_files_from(self.text, Path.cwd() / "cell.baml", target.resolve())
        try:
            target.write_text(MADE_MARK + "\n" + text)
        except OSError as exc:
            raise MadeTestError(f"can't write {target} ({exc.strerror or exc}); nothing was written") from None
        return target

    def __repr__(self) -> str:
        if not self.tests:
            return "no tests made"
        functions = ", ".join(dict.fromkeys(t.function for t in self.tests))
        count = f"{len(self.tests)} test{'s' if len(self.tests) != 1 else ''}"
        names = ", ".join(self.names[:5]) + (f" and {len(self.tests) - 5} more" if len(self.tests) > 5 else "")
        head = (f"{count} of {functions} made ({names}), in this session's project: %baml test {functions} runs "
                f"{'it' if len(self.tests) == 1 else 'them'}.")
        them = "it" if len(self.tests) == 1 else "them"
        keep = f".write() writes {them} to a file in its folder" if self.folder is not None else \
            f"to keep {them}, paste this cell (or .write(PATH) writes a file)"
        shown = self.tests[:SHOWN] if len(self.tests) > SHOWN + 2 else self.tests
        rest = f"\n// ... and {len(self.tests) - len(shown)} more: .text has them all" \
            if len(shown) < len(self.tests) else ""
        return f"{head}\n{keep}:\n\n%%baml\n" + "\n".join(t.text for t in shown) + rest
