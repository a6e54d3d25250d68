"""Typed values from BAML's own ``python/pydantic`` generator, run into a cache folder.

The generated package's ``__init__`` is never imported: it builds a global runtime and a
process-wide context manager. Only ``types.py`` and ``stream_types.py`` are loaded (as a
package of their own), and the function signatures are read from ``sync_client.py``.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types as pytypes
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import baml_py
import typing_extensions

from baml_magic._errors import clean_message

GENERATOR_FILE = "_baml_magic_generator.baml"
_loaded: dict[str, TypeModules] = {}


@dataclass(frozen=True)
class TypeModules:
    """The generated modules a FunctionResult is cast with."""

    types: pytypes.ModuleType
    stream_types: pytypes.ModuleType


@dataclass(frozen=True)
class GeneratedSignature:
    """A function's parameters and return type, as the generator wrote them."""

    params: tuple[tuple[str, Any], ...]
    returns: Any


def default_cache_dir() -> Path:
    base = os.environ.get("BAML_MAGIC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "baml_magic"
    )
    return Path(base)


def project_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256(baml_py.baml_py.get_version().encode())
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()[:20]


def generate(files: dict[str, str], cache_dir: Path) -> Path:
    """Run BAML's generator over the files; return the generated ``baml_client`` folder.

    Output is cached by the project's content, so an unchanged project is not generated again.
    """
    key = project_hash(files)
    client_dir = cache_dir / "generated" / key / "baml_client"
    if (client_dir / "types.py").exists():
        return client_dir
    cache_dir = writable_cache_dir(cache_dir)
    out = cache_dir / "generated" / key
    client_dir = out / "baml_client"
    if (client_dir / "types.py").exists():
        return client_dir
    try:
        return _generate_into(files, cache_dir, out)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise GeneratorError(_no_space(cache_dir)) from None
        raise GeneratorError(f"could not write BAML's generated code under {cache_dir}: {exc.strerror or exc}") \
            from None


_fallback_dir: Path | None = None


def writable_cache_dir(cache_dir: Path) -> Path:
    """The cache folder, or (when it can't be written) a private temporary one, said in one line."""
    global _fallback_dir
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix="probe-", dir=cache_dir))
        return cache_dir
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise GeneratorError(_no_space(cache_dir)) from None
        if _fallback_dir is None:
            _fallback_dir = Path(tempfile.mkdtemp(prefix="baml_magic_cache_"))
            print(f"baml_magic: cannot write the cache at {cache_dir} ({exc.strerror or exc}); using "
                  f"{_fallback_dir} for this session (set BAML_MAGIC_CACHE to choose another folder)",
                  file=sys.stderr)
        return _fallback_dir


def _no_space(cache_dir: Path) -> str:
    return (f"no space left on the disk for BAML's generated code at {cache_dir}: free some space, or set "
            "BAML_MAGIC_CACHE to a folder on another disk")


def discard(client_dir: Path) -> None:
    """Forget a cached generation that can't be loaded (a corrupted file), so it is generated again."""
    shutil.rmtree(client_dir.parent, ignore_errors=True)


def _generate_into(files: dict[str, str], cache_dir: Path, out: Path) -> Path:
    work = Path(tempfile.mkdtemp(prefix="gen-", dir=cache_dir))
    try:
        src = work / "baml_src"
        for name, text in files.items():
            path = src / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (src / GENERATOR_FILE).write_text(
            "generator baml_magic {\n"
            '  output_type "python/pydantic"\n'
            f'  output_dir "{(work / "out").as_posix()}"\n'
            f'  version "{baml_py.baml_py.get_version()}"\n'
            "}\n"
        )
        _run_cli(["generate", "--from", str(src), "--no-tests"])
        if not (work / "out" / "baml_client" / "types.py").exists():
            raise RuntimeError("BAML's generator wrote no types.py")
        out.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # another process may have finished the same key first
            os.replace(work / "out", out)
        return out / "baml_client"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cli(*args: str, log: str = "off") -> tuple[list[str], dict[str, str]]:
    """The command and environment to run BAML's CLI in a child process.

    Never in this one: ``invoke_runtime_cli`` installs a Ctrl-C handler of its own, which would
    take SIGINT away from the kernel (and a second call panics).
    """
    binary = Path(sys.executable).with_name("baml-cli")
    command = [str(binary)] if binary.exists() else [
        sys.executable, "-c", "import sys, baml_py; sys.exit(baml_py.invoke_runtime_cli())"]
    env = {**os.environ, "BAML_LOG": log, "NO_COLOR": "1"}
    env.pop("RUST_BACKTRACE", None)
    return [*command, *args], env


class GeneratorError(RuntimeError):
    """BAML's generator refused the project; the message is the generator's own cause."""


_LOG_PREFIX = re.compile(r"^\S+ \[BAML \w+\] ", re.M)


def _run_cli(args: list[str]) -> None:
    # At log level "error" the generator says why it failed (at "off" only "Failed to build BAML runtime").
    command, env = cli(*args, log="error")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        message = _LOG_PREFIX.sub("", clean_message((done.stderr or "") + "\n" + (done.stdout or "")))
        if "No space left on device" in message:
            raise GeneratorError("no space left on the disk for BAML's generated code: free some space, or set "
                                 "BAML_MAGIC_CACHE to a folder on another disk")
        raise GeneratorError(message.strip() or "BAML's generator failed")


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


_RUNTIME_NAME = "DO_NOT_USE_DIRECTLY_UNLESS_YOU_KNOW_WHAT_YOURE_DOING_RUNTIME"


def type_builder_class(modules: TypeModules, runtime: baml_py.BamlRuntime) -> Any:
    """The generated ``TypeBuilder`` class, bound to this runtime (for ``@@dynamic`` types).

    The generated module imports its runtime from the package's ``globals``, which would build a
    global runtime: a stand-in ``globals`` module hands it ours instead.
    """
    package_name = modules.types.__name__.rsplit(".", 1)[0]
    stand_in = sys.modules.get(f"{package_name}.globals")
    if stand_in is None:
        stand_in = pytypes.ModuleType(f"{package_name}.globals")
        sys.modules[stand_in.__name__] = stand_in
    setattr(stand_in, _RUNTIME_NAME, runtime)
    module = importlib.import_module(f"{package_name}.type_builder")
    setattr(module, _RUNTIME_NAME, runtime)  # the same generated text may come back with a new runtime
    return module.TypeBuilder


class _Unquote(ast.NodeTransformer):
    """Forward references written as strings become expressions, so eval resolves them."""

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        target = node.value
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "Literal":  # its strings are values, not names
            return node
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, str):
            return ast.parse(node.value, mode="eval").body
        return node


def signatures(client_dir: Path, modules: TypeModules) -> dict[str, GeneratedSignature]:
    """Each function's parameters and return type, read from the generated sync client."""
    tree = ast.parse((client_dir / "sync_client.py").read_text())
    namespace = {
        "typing": typing,
        "typing_extensions": typing_extensions,
        "types": modules.types,
        "stream_types": modules.stream_types,
        "baml_py": baml_py,
    }

    def evaluate(node: ast.expr | None) -> Any:
        if node is None:
            return Any
        expr = ast.Expression(_Unquote().visit(node))
        return eval(compile(ast.fix_missing_locations(expr), "<baml signature>", "eval"), namespace)

    def methods(class_name: str) -> dict[str, ast.FunctionDef]:
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                return {
                    f.name: f for f in node.body
                    if isinstance(f, ast.FunctionDef) and any(a.arg == "baml_options" for a in f.args.args)
                }
        return {}

    result = {}
    for name, fn in methods("BamlSyncClient").items():
        params = tuple((a.arg, evaluate(a.annotation)) for a in fn.args.args[1:] if a.arg != "baml_options")
        result[name] = GeneratedSignature(params, evaluate(fn.returns))
    return result
