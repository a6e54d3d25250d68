"""BAML v1's runtime (``baml-bridge``, one pinned version): imported on first use and made safe for a kernel.

Measured traps of the bridge: importing the bridge installs a handler that calls ``os._exit(1)``
when a background BAML task fails, and an exit hook that waits for every spawned task without a limit.
Both are replaced here, through the bridge's own hooks, before anything runs. The runtime is one
process-wide slot: each compile replaces it whole (1 to 3 s, measured by ``benchmarks/v1.py``).
"""

from __future__ import annotations

import atexit
import enum
import importlib
import importlib.util
import re
import sys
import threading
from typing import Any

import pydantic

from baml_magic._errors import ShortError
from baml_magic._redact import redact

PINNED = "0.23.0"  # the API moved three times between 0.14 and 0.22: one exact version, the extra's pin
INSTALL = f"pip install baml-bridge=={PINNED} (the package's v1 extra)"
ROOT = "baml_src"
DESCRIBE_FILE = "__baml_magic__.baml"
DESCRIBE = "__baml_magic_describe"
SHUTDOWN_SECONDS = 2.0  # the longest the process's exit waits for v1 work still running

# The runtime's own reflection, as rows of tab-separated text (a compile reads them once, in milliseconds).
DESCRIBE_SOURCE = """
function __baml_magic_describe() -> string[] {
  let pkg = reflect.Package.current();
  let rows: string[] = [];
  let classes = pkg.classes();
  let cnames = classes.keys();
  for (let i = 0; i < cnames.length(); i += 1) {
    let fields = classes[cnames[i]].fields();
    rows.push(`class\\t${cnames[i]}`);
    for (let j = 0; j < fields.length(); j += 1) {
      rows.push(`field\\t${cnames[i]}\\t${fields[j].name}\\t${fields[j].type.to_string()}`);
    }
  }
  let enums = pkg.enums();
  let enames = enums.keys();
  for (let i = 0; i < enames.length(); i += 1) {
    let values = enums[enames[i]].values();
    rows.push(`enum\\t${enames[i]}`);
    for (let j = 0; j < values.length(); j += 1) {
      rows.push(`value\\t${enames[i]}\\t${values[j].name}`);
    }
  }
  let functions = pkg.functions();
  let fnames = functions.keys();
  for (let i = 0; i < fnames.length(); i += 1) {
    let params = functions[fnames[i]].params();
    rows.push(`function\\t${fnames[i]}\\t${functions[fnames[i]].return_type().to_string()}`);
    for (let j = 0; j < params.length(); j += 1) {
      let param = params[j];
      rows.push(`param\\t${fnames[i]}\\t${param.name ?? ""}\\t${param.type.to_string()}\\t${param.optional}`);
    }
  }
  rows
}
"""


# The editor's check as you type, in a child process (a compile takes about a second and 300 MB).
COMPILE_SCRIPT = """
import json, sys
from baml_magic.engine.v1 import _bridge as v1
files = json.load(sys.stdin)["files"]
try:
    v1.compile_program(files)
    message = None
except BaseException as exc:
    message = v1.one_line(exc)
print(json.dumps(message))
"""


class V1Unavailable(ShortError, ImportError):
    """BAML v1 can't run here: baml-bridge (the optional ``v1`` extra) is missing, or not the pinned version."""


_bridge: Any = None
_refused: str | None = None  # why the bridge was refused once (an imported module stays imported)
_lock = threading.Lock()
_compile_lock = threading.Lock()


def bridge() -> Any:
    """The bridge module, imported once, with its exit handlers replaced and our type map installed."""
    global _bridge, _refused
    with _lock:
        if _refused is not None:
            raise V1Unavailable(_refused)
        if _bridge is None:
            baml_bridge = _import_with_our_handler()
            version = getattr(baml_bridge, "__version__", "?")
            if version != PINNED:
                _refused = f"BAML v1 here is pinned to baml-bridge {PINNED}, found {version}: {INSTALL}"
                raise V1Unavailable(_refused)
            atexit.unregister(baml_bridge.shutdown_runtime)
            atexit.register(baml_bridge.shutdown_runtime, SHUTDOWN_SECONDS)
            _bridge = baml_bridge
            _install_map()
        return _bridge


def _import_with_our_handler() -> Any:
    """Import the bridge with our spawn-error handler registered first (the bridge keeps the first one it is
    given): its extension module is loaded, the handler registered, then the package's own code runs."""
    if sys.modules.get("baml_bridge") is not None:  # imported before us: its os._exit handler is in place
        print("BAML v1: baml_bridge was imported before baml_magic, so a failing background BAML task ends the "
              "process; restart the kernel and let baml_magic import it", file=sys.stderr)
        return sys.modules["baml_bridge"]
    try:
        spec = importlib.util.find_spec("baml_bridge")
    except ImportError:
        spec = None
    if spec is None or spec.loader is None:
        raise V1Unavailable(f"BAML v1 needs baml-bridge: {INSTALL}")
    package = importlib.util.module_from_spec(spec)
    sys.modules["baml_bridge"] = package
    try:
        extension: Any = importlib.import_module("baml_bridge.baml_py")
        extension.register_unhandled_spawn_error_callback(_spawn_failed)
        spec.loader.exec_module(package)
    except BaseException as exc:
        sys.modules.pop("baml_bridge", None)
        sys.modules.pop("baml_bridge.baml_py", None)
        if isinstance(exc, ImportError):
            raise V1Unavailable(f"baml-bridge could not be imported ({exc}): {INSTALL}") from None
        raise
    return package


def _spawn_failed(error: bytes, cancelled: bool) -> None:
    """A background BAML task failed and nobody awaited it: one line on stderr, and the kernel lives on."""
    if cancelled:
        return
    try:
        sys.modules["baml_bridge"].decode_call_result(error)  # not bridge(): no lock on the bridge's own thread
        message = "unknown error"
    except BaseException as exc:  # noqa: BLE001 - the decoded error is what we report
        message = redact(one_line(exc))  # stderr is the notebook's output: no secret in it
    print(f"BAML v1: a spawned task failed and nothing awaited it: {message}", file=sys.stderr, flush=True)


_PANIC = re.compile(r"^[\w.]+: \w+\(message=(['\"])(?P<text>.*)\1\)$", re.S)
_TRACE = re.compile(r"\n\s*(Stack backtrace|stack backtrace|Traceback).*", re.S)


def one_line(exc: BaseException) -> str:
    """What a bridge error says, on one line: its kind and message (an HTTP error's status and what the
    provider said, shortened), without the class wrapper or any backtrace."""
    value: Any = getattr(exc, "value", None)
    fields: dict[str, Any] = value.model_dump() if hasattr(value, "model_dump") else {}
    text = str(value) if isinstance(value, str) else fields.get("message") or fields.get("detail")
    status = fields.get("status_code")
    if text and status:
        text = f"HTTP {status}" if str(text).lower() == f"http {status}" else f"HTTP {status}: {text}"
    if text and fields.get("raw_body"):
        body = " ".join(str(fields["raw_body"]).split())
        text = f"{text}; the provider said: {body[:300]}{'...' if len(body) > 300 else ''}"
    kind = str(getattr(exc, "class_name", "") or "").rsplit(".", 1)[-1]
    if not text:
        text = str(exc) or type(exc).__name__
    elif kind and not isinstance(value, str):
        text = f"{kind}: {text}"
    text = _TRACE.sub("", str(text))
    found = _PANIC.match(text)
    if found:
        text = found.group("text").encode().decode("unicode_escape", errors="replace")
    return " ".join(text.split())


class Types:
    """Python classes for the runtime's class and enum names: the user's from reflection, the rest on demand."""

    def __init__(self) -> None:
        self.user: dict[str, type] = {}

    def set_user(self, classes: dict[str, type]) -> None:
        self.user = classes

    def find(self, fqn: str) -> type | None:
        for prefix in ("user.", "root."):
            if fqn.startswith(prefix):
                return self.user.get(fqn[len(prefix):])
        return None


def _make_type_map(types: Types) -> Any:
    """A subclass of the bridge's ``BamlTypeMap`` (no generated code exists to fill one): built lazily, the
    bridge's module being optional."""
    from baml_bridge import typemap

    base: Any = typemap.BamlTypeMap

    class OnDemand(base):  # type: ignore[misc]
        __slots__ = ()

        def _remember(self, fqn: str, cls: type) -> type:
            self._class_cache[fqn] = cls
            self._reverse[(cls.__module__, cls.__qualname__)] = fqn
            return cls

        def get_class(self, fqn: str) -> type:
            known: type | None = self._class_cache.get(fqn)
            if known is not None:
                return known
            found = types.find(fqn)
            if found is not None and not issubclass(found, enum.Enum):
                return self._remember(fqn, found)
            # A runtime class (an error, a request, a cancel token): its fields are whatever it carries.
            model = pydantic.create_model(fqn.rsplit(".", 1)[-1], __config__=pydantic.ConfigDict(extra="allow"))
            model.__module__ = "baml_magic.v1." + fqn.rsplit(".", 1)[0]
            return self._remember(fqn, model)

        def get_enum(self, fqn: str) -> type:
            found = types.find(fqn)
            if found is None or not issubclass(found, enum.Enum):
                raise bridge().BamlError(f"unknown enum {fqn}")  # the bridge then gives the variant's name
            self._reverse[(found.__module__, found.__qualname__)] = fqn
            return found

    return OnDemand()


USER_TYPES = Types()


def _install_map() -> None:
    assert _bridge is not None
    made = _make_type_map(USER_TYPES)  # a new map: the decoder's caches start again
    for name, cls in USER_TYPES.user.items():  # a value of the user's class can be passed before one came back
        made._reverse[(cls.__module__, cls.__qualname__)] = f"user.{name}"
    _bridge.set_type_map(made)


def install_types(classes: dict[str, type]) -> None:
    """The user's classes and enums of the program now compiled."""
    bridge()
    USER_TYPES.set_user(classes)
    _install_map()


def compile_program(files: dict[str, str]) -> list[str]:
    """Replace the process's runtime with these files (and our reflection function); its description rows.

    Raises the bridge's error when the files do not compile; the runtime before stays in place then.
    """
    bb = bridge()
    with _compile_lock:
        runtime = bb.BamlRuntime.initialize_runtime(ROOT, {**files, DESCRIBE_FILE: DESCRIBE_SOURCE})
        rows = bb.decode_call_result(runtime.call_function_sync(
            bb.encode_call_args({}, bb.new_function_call(), function_name=f"user.{DESCRIBE}")))
    return [str(row) for row in rows]
