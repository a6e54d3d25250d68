"""How a bound function travels to another process (a Ray worker): as its project's files, its name and its
options, never a secret's value; the receiving process compiles the project once and calls as the kernel does.

``BamlFunction.__reduce__`` returns its recipe and the function that remakes it, so pickle, cloudpickle
and Ray all carry a function this way. A worker reads keys from its own environment: a missing one is the
call's usual one-line error naming the variable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from baml_magic.calls import CallOptions, ResponseCache
from baml_magic.engine import Compiled, FunctionSpec, kinds, quiet_logs
from baml_magic.notebook._bound import Bound
from baml_magic.notebook._session import DefaultSettings, Session
from baml_magic.sources import Source, literal_secrets


@dataclass(frozen=True)
class Recipe:
    """Everything a process needs to make the same function: no runtime, no key."""

    engine: str
    files: tuple[tuple[str, str], ...]  # the compiled project's files (name, text)
    function: str
    options: CallOptions
    version: str = ""
    cache_mode: str = "off"  # the kernel's response cache, read and written by the workers too (same file)
    cache_path: str | None = None
    stream: bool = True
    allow_incomplete: bool = False
    plain_requests: bool = False

    @property
    def digest(self) -> str:
        """Which project this is (a process compiles each once)."""
        text = "\0".join([self.engine, *(f"{name}\0{body}" for name, body in self.files)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class NotPortable(ValueError):
    """The function can't travel as it is (a TypeBuilder, a key written into a client block)."""


def recipe_of(fn: Bound) -> Recipe:
    """The recipe of a bound function (a one-line error when it can't travel without a secret)."""
    compiled, options = fn.compiled, fn.options
    if options.tb is not None:
        raise NotPortable(f"{fn.spec.name} has a TypeBuilder bound: a TypeBuilder stays in its process; "
                          f"make it in the worker or drop tb= for this map")
    for client, block in compiled.clients.items():
        if literal_secrets(block)[0]:
            raise NotPortable(f"client {client} writes its key into the source: a function travels without "
                              f"secrets; read the key from the environment (env.NAME) on every machine")
    settings, cache = fn._session.settings, fn._session.cache
    return Recipe(compiled.engine_name, tuple(compiled.files.items()), fn.spec.name,
                  dataclasses.replace(options, client=fn.client_in_force if fn.client_in_force != fn.spec.client
                                      else options.client),
                  version=fn.version, cache_mode=cache.mode, cache_path=str(cache.path) if cache.path else None,
                  stream=settings.stream, allow_incomplete=settings.allow_incomplete,
                  plain_requests=settings.plain_requests)


_compiled: dict[str, Compiled] = {}  # this process's projects, by digest
_compiling = threading.Lock()


def _compile(recipe: Recipe) -> Compiled:
    with _compiling:
        if recipe.digest not in _compiled:
            if not os.environ.get("BAML_LOG"):
                quiet_logs()  # as the extension keeps a kernel: BAML's call log would fill the worker's
            cache_dir = Path(os.environ["BAML_MAGIC_CACHE"]) if os.environ.get("BAML_MAGIC_CACHE") else None
            project = kinds.KINDS[recipe.engine](cache_dir)
            _compiled[recipe.digest] = project.update([Source(name, name, name, text) for name, text in recipe.files])
        return _compiled[recipe.digest]


def worker_parts(recipe: Recipe) -> tuple[FunctionSpec, Compiled, Session, CallOptions, str | None]:
    """What a recipe's function is made of in this process (its project compiled once here), with no view."""
    compiled = _compile(recipe)
    settings = DefaultSettings(display="none", stream=recipe.stream, allow_incomplete=recipe.allow_incomplete,
                               plain_requests=recipe.plain_requests, history=1)
    session = Session.create(settings)
    if recipe.cache_mode != "off" and recipe.cache_path is not None:
        session.cache = ResponseCache(mode=recipe.cache_mode, path=Path(recipe.cache_path))
    return compiled.functions[recipe.function], compiled, session, recipe.options, recipe.version or None
