"""The house's rules, held against the code (issue #39): wings import downward only, no circle of imports
(type-only imports included), the product imports nothing of the offline model, nothing outside ``engine/``
names an engine, a handful of modules at the top, one exported base under every error of the package."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
from pathlib import Path

import baml_magic
from scripts.reference_pages import OUTSIDE, WINGS

PACKAGE = Path(baml_magic.__file__).parent
ORDER = ("top", *WINGS)


@functools.cache
def _tree(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once for all the tests here."""
    return ast.parse(path.read_text())


@functools.cache
def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in (*WINGS, *OUTSIDE)) else "top"


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("baml_magic"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("baml_magic")}
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def test_wings_import_downward_only_and_the_product_never_imports_the_offline_model() -> None:
    climbing = []
    for module, imported in _graph().items():
        wing = _wing(module)
        if wing in OUTSIDE or module == "baml_magic":
            continue
        for other in imported:
            target = _wing(other)
            if target in OUTSIDE or ORDER.index(target) > ORDER.index(wing):
                climbing.append(f"{module} -> {other}")
    assert not climbing, climbing


def test_no_circle_of_imports() -> None:
    graph = _graph()
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for other in sorted(graph.get(module, ())):
            if other not in graph:
                continue
            assert seen.get(other) != 1, " -> ".join([*path, module, other])
            if other not in seen:
                visit(other, [*path, module])
        seen[module] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module, [])


def test_a_handful_of_modules_at_the_top_and_at_least_six_wings() -> None:
    top = [p for p in PACKAGE.glob("*.py")]
    wings = [w for w in WINGS if (PACKAGE / w / "__init__.py").exists()]
    assert len(top) <= 12 and len(wings) >= 6, (len(top), wings)


def test_nothing_outside_the_engine_names_an_engine() -> None:
    naming = re.compile(r"""["']v[01]["']|V1Project|V0Engine|V1Engine|_v1_|require_v0|baml_bridge""")
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("engine/", "local_llm/", "testing/")) or relative == "__init__.py":
            continue  # the public names re-export the engines' own errors
        assert not naming.search(path.read_text()), relative


def test_one_exported_base_under_every_error_of_the_package() -> None:
    errors = [cls for name in baml_magic.__all__ if inspect.isclass(cls := getattr(baml_magic, name))
              and issubclass(cls, BaseException) and cls.__module__.startswith("baml_magic")]
    assert errors and all(issubclass(cls, baml_magic.BamlMagicError) for cls in errors), errors
    for name in ("BamlValidationError", "BamlClientError", "BamlTimeoutError", "BamlAbortError"):
        assert name in baml_magic.__all__, name


def test_no_driver_method_on_a_bound_function_s_public_surface() -> None:
    from baml_magic import BamlFunction

    public = {n for n in dir(BamlFunction) if not n.startswith("_")}  # its own and its mixins'
    assert "open_run" not in public and {"stream", "start", "map", "with_options"} <= public


def test_a_command_is_one_record_and_no_handler_is_the_magic_s() -> None:
    """Each ``%baml`` command is its parser and its handler, a function beside its feature (not a method of the
    magic), and nothing outside the magic's own module imports the magic."""
    from baml_magic.notebook._commands import COMMANDS
    from baml_magic.notebook._magics import BamlMagic

    assert COMMANDS and all(inspect.isfunction(c.handler) and "_magics" not in c.handler.__module__
                            and c.parser.prog == f"%baml {name}" for name, c in COMMANDS.items())
    assert not [n for n in vars(BamlMagic) if n in {f"_{name}" for name in COMMANDS}]
    importing = [name for name, targets in _graph().items() if "baml_magic.notebook._magics" in targets]
    assert importing == ["baml_magic.notebook"], importing


def test_no_module_over_320_lines() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > 320}
    assert not long, f"split these by concern: {long}"


def test_the_suite_waits_on_conditions_not_the_clock() -> None:
    """At most ten sleeps in the tests, each saying why on its line (``wait_until`` waits on a condition)."""
    sleep = "time." + "sleep("  # spelled apart, so this test's own lines are no sleep
    sleeps = [f"{path.name}:{number}: {line.strip()}" for path in Path(__file__).parent.glob("*.py")
              for number, line in enumerate(path.read_text().splitlines(), 1) if sleep in line]
    assert len(sleeps) <= 10, sleeps
    assert all("#" in line.split(sleep, 1)[1] for line in sleeps), [s for s in sleeps if "#" not in s]


def test_wings_meet_at_their_faces() -> None:
    """Into a wing from anywhere outside it (another wing, a top module, the test drivers), an import names the
    wing's face, ``baml_magic.<wing>`` (its ``__init__``), and only names its ``__all__`` lists: never a module
    of the wing, never a private name through the face."""
    modules, wings = _modules(), (*WINGS, *OUTSIDE)
    reaching = []
    for name, path in modules.items():
        for node in ast.walk(_tree(path)):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                    and node.module.startswith("baml_magic.")):
                continue
            target = node.module.split(".")[1]
            if target not in wings or _wing(name) == target:
                continue
            face = importlib.import_module(f"baml_magic.{target}")
            listed = getattr(face, "__all__", ())
            if node.module != f"baml_magic.{target}":
                reaching.append(f"{name} -> {node.module}")
            reaching += [f"{name} -> {node.module}.{a.name}" for a in node.names if a.name not in listed]
    assert not reaching, reaching


def test_every_face_lists_only_what_it_has() -> None:
    for wing in (w for w in WINGS if (PACKAGE / w / "__init__.py").exists()):
        face = importlib.import_module(f"baml_magic.{wing}")
        listed = getattr(face, "__all__", None)
        assert listed and all(hasattr(face, n) and not n.startswith("_") for n in listed), (wing, listed)


def test_two_engines_in_two_rooms() -> None:
    """``engine/v0`` and ``engine/v1`` never import each other; what both use lives in the engine's shared
    modules, which import neither engine (only the face and ``kinds`` name both)."""
    crossing = []
    for name, targets in _graph().items():
        if not name.startswith("baml_magic.engine.") or name == "baml_magic.engine.kinds":
            continue
        room = name.split(".")[2] if name.split(".")[2] in ("v0", "v1") else "shared"
        for target in targets:
            other = target.split(".")[2] if target.startswith("baml_magic.engine.") else None
            if other in ("v0", "v1") and other != room:
                crossing.append(f"{name} -> {target}")
    assert not crossing, crossing


def test_a_run_s_insides_stay_inside_it() -> None:
    """Drivers, views, maps and the session use a ``Run`` through its public methods; its private state is its own."""
    source = (PACKAGE / "calls" / "_run.py").read_text()
    private = {n for n in re.findall(r"(?:self\.|def )(_[a-z]\w*)", source)}
    reaching = [f"{path.relative_to(PACKAGE)}: .{node.attr}" for path in PACKAGE.rglob("*.py")
                if path.name != "_run.py" for node in ast.walk(_tree(path))
                if isinstance(node, ast.Attribute) and node.attr in private
                and isinstance(node.value, (ast.Name, ast.Attribute))
                and (node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id)
                in ("run", "previous")]
    assert private and not reaching, reaching


def test_every_type_a_public_method_returns_is_exported_and_says_the_package() -> None:
    """What ``baml_magic`` exports reports ``baml_magic`` as its module, and a type that a public method or property
    of an exported class returns is exported too (a user can name it, find it in the reference)."""
    unexported: dict[str, set[str]] = {}
    for name in baml_magic.__all__:
        cls = getattr(baml_magic, name)
        if not isinstance(cls, type) or not cls.__module__.startswith("baml_magic"):
            continue
        assert cls.__module__ == "baml_magic", (name, cls.__module__)
        for attr, member in vars(cls).items():
            function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            returns = getattr(function, "__annotations__", {}).get("return") if inspect.isfunction(function) else None
            if (attr.startswith("_") and attr != "__call__") or not isinstance(returns, str):
                continue
            for word in re.findall(r"\b[A-Z]\w*", returns):
                target = function.__globals__.get(word)
                if isinstance(target, type) and target.__module__.startswith("baml_magic") \
                        and word not in baml_magic.__all__:
                    unexported.setdefault(word, set()).add(f"{name}.{attr}")
    assert not unexported, unexported
