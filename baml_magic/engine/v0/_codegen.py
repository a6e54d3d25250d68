"""Typed values from BAML's own ``python/pydantic`` generator, run into a cache folder.

The generated package's ``__init__`` is never imported: it builds a global runtime and a
process-wide context manager. Only ``types.py`` and ``stream_types.py`` are loaded (as a
package of their own), and the function signatures are read from ``sync_client.py``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import os
import re
import shutil
import sys
import tempfile
import types as pytypes
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import baml_py
import typing_extensions

from baml_magic._errors import BamlMagicError, clean_message
from baml_magic.engine._baml_cli import BamlCli
from baml_magic.engine._seam import NoSpaceError, TypeModules, no_space, writable_cache_dir
from baml_magic.sources import Aliases


def baml_version() -> str:
    """The installed baml-py's BAML version (what the generator and runtime speak)."""
    return str(baml_py.baml_py.get_version())


GENERATOR_FILE = "_baml_magic_generator.baml"
_loaded: dict[str, TypeModules] = {}


@dataclass(frozen=True)
class GeneratedSignature:
    """A function's parameters and return type, as the generator wrote them."""

    params: tuple[tuple[str, Any], ...]
    returns: Any


def project_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256(baml_version().encode())
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()[:20]


class Generation:
    """BAML's generator over a project, running in a child process while this one does other work.

    ``finish()`` waits for it and returns the generated ``baml_client`` folder. Output is cached by
    the project's content: an unchanged project is not generated again (no process is started).
    """

    def __init__(self, files: dict[str, str], cache_dir: Path) -> None:
        key = project_hash(files)
        self.client_dir = cache_dir / "generated" / key / "baml_client"
        self.run: BamlCli | None = None
        self.work: Path | None = None
        if (self.client_dir / "types.py").exists():
            return
        try:
            self.cache_dir = writable_cache_dir(cache_dir)
        except NoSpaceError as exc:
            raise GeneratorError(str(exc)) from None
        self.out = self.cache_dir / "generated" / key
        self.client_dir = self.out / "baml_client"
        if (self.client_dir / "types.py").exists():
            return
        with _disk_errors(self.cache_dir):
            self.work = Path(tempfile.mkdtemp(prefix="gen-", dir=self.cache_dir))
            src = self.work / "baml_src"
            for name, text in files.items():
                path = src / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            (src / GENERATOR_FILE).write_text(
                "generator baml_magic {\n"
                '  output_type "python/pydantic"\n'
                f'  output_dir "{(self.work / "out").as_posix()}"\n'
                f'  version "{baml_version()}"\n'
                "}\n"
            )
        # At log level "error" the generator says why it failed (at "off" only "Failed to build BAML runtime").
        self.run = BamlCli("generate", "--from", str(src), "--no-tests", log="error")

    def finish(self) -> Path:
        if self.run is None:
            return self.client_dir
        assert self.work is not None
        try:
            output = self.run.output()
            if self.run.wait():
                raise GeneratorError(_generator_message(output))
            if not (self.work / "out" / "baml_client" / "types.py").exists():
                raise GeneratorError("BAML's generator wrote no types.py")
            with _disk_errors(self.cache_dir):
                self.out.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):  # another process may have finished the same key first
                    os.replace(self.work / "out", self.out)
            return self.client_dir
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def cancel(self) -> None:
        """Stop the generator (the project did not compile) and clean up."""
        if self.run is not None and self.run.running:
            self.run.stop(grace=0.0)
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)


def generate(files: dict[str, str], cache_dir: Path) -> Path:
    """Run BAML's generator over the files (or take the cached output); the ``baml_client`` folder."""
    return Generation(files, cache_dir).finish()


@contextlib.contextmanager
def _disk_errors(cache_dir: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise GeneratorError(no_space(cache_dir)) from None
        raise GeneratorError(f"could not write BAML's generated code under {cache_dir}: {exc.strerror or exc}") \
            from None


def discard(client_dir: Path) -> None:
    """Forget a cached generation that can't be loaded (a corrupted file), so it is generated again."""
    shutil.rmtree(client_dir.parent, ignore_errors=True)


class GeneratorError(BamlMagicError, RuntimeError):
    """BAML's generator refused the project; the message is the generator's own cause."""


_LOG_PREFIX = re.compile(r"^\S+ \[BAML \w+\] ", re.M)


def _generator_message(output: str) -> str:
    message = _LOG_PREFIX.sub("", clean_message(output)).strip()
    if "No space left on device" in message:
        return ("no space left on the disk for BAML's generated code: free some space, or set BAML_MAGIC_CACHE "
                "to a folder on another disk")
    return message or "BAML's generator failed"


def load_types(client_dir: Path) -> TypeModules:
    """Import the generated types; the same generated text gives back the same modules."""
    text = (client_dir / "types.py").read_bytes() + b"\0" + (client_dir / "stream_types.py").read_bytes()
    key = hashlib.sha256(text).hexdigest()[:16]
    if key in _loaded:
        return _loaded[key]
    package_name = f"_baml_magic_types_{key}"
    package = pytypes.ModuleType(package_name)
    package.__path__ = [str(client_dir)]
    sys.modules[package_name] = package
    modules = TypeModules(
        importlib.import_module(f"{package_name}.types"),
        importlib.import_module(f"{package_name}.stream_types"),
    )
    _loaded[key] = modules
    return modules


_METHOD = re.compile(
    r"^    def (\w+)\(self,[ ]?([^\n]*)\n\s*baml_options: BamlCallOptions = \{\},\n\s*\) -> ([^\n]+):$", re.M)
_QUOTED_TYPE = re.compile(r"\"((?:types|stream_types)\.\w+)\"")
_signatures: dict[Path, dict[str, GeneratedSignature]] = {}


def _split_params(text: str) -> list[tuple[str, str]]:
    """``a: T, b: typing.Dict[K, V],`` as (name, annotation source) pairs, commas inside brackets kept."""
    params, depth, current, quote = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            params.append(current)
            current = ""
            continue
        current += ch
    params.append(current)
    out = []
    for param in params:
        name, _, annotation = param.strip().partition(":")
        if name:
            out.append((name.strip(), annotation.split(" = ")[0].strip()))  # without a default value
    return out


def signatures(client_dir: Path, modules: TypeModules) -> dict[str, GeneratedSignature]:
    """Each function's parameters and return type, read from the generated sync client.

    The generator writes every method of ``BamlSyncClient`` in one shape (parameters, then
    ``baml_options``), so a regular expression finds them; only the annotations are evaluated.
    A megabyte of generated client parses in milliseconds this way (``ast.parse`` took over half a
    second at 500 functions), and the result is kept per generated folder.
    """
    cached = _signatures.get(client_dir)
    if cached is not None:
        return cached
    text = (client_dir / "sync_client.py").read_text()
    start = text.find("class BamlSyncClient")
    end = text.find("\nclass ", start + 1)
    body = text[start:end if end > 0 else len(text)]
    namespace = {"typing": typing, "typing_extensions": typing_extensions, "types": modules.types,
                 "stream_types": modules.stream_types, "baml_py": baml_py}

    def evaluate(source: str) -> Any:
        return eval(_QUOTED_TYPE.sub(r"\1", source), namespace)  # generated code of BAML's own generator

    result = {}
    aliases = Aliases(modules.types)
    for match in _METHOD.finditer(body):
        params = tuple((name, aliases.resolve(evaluate(annotation))) for name, annotation in
                       _split_params(match.group(2)))
        result[match.group(1)] = GeneratedSignature(params, aliases.resolve(evaluate(match.group(3))))
    _signatures[client_dir] = result
    return result
