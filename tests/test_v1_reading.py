"""BAML v1's type notation and top-level declarations, as the v1 engine reads them (in process, no runtime).

The notation is what the bridge's reflection prints (``reflect.Type.to_string()``), seen in its rows for the
types below; the declarations follow v1's lexical structure (backtick templates with ``${...}``, raw strings).
"""

from __future__ import annotations

import enum
import typing
from typing import Any, Literal

import pydantic
import pytest

from baml_magic.engine.v1 import _types as v1types
from baml_magic.engine.v1._blocks import declarations, newest_wins


def test_the_notation_reads_into_python_annotations() -> None:
    named = {"Person": None, "Mood": None}
    assert v1types.python_type("string[]", named) == list[str]
    assert v1types.python_type("map<string, int>", named) == dict[str, int]
    assert v1types.python_type('"a" | "b"', named) == Literal["a", "b"]
    assert typing.get_args(v1types.python_type("Person | null", named)) == (typing.ForwardRef("Person"), type(None))
    assert v1types.python_type("ai.stream.Stream<Person>", named) is Any
    assert v1types.python_type("(string) -> null throws unknown", named) is Any, "a function type is untyped"
    assert v1types.python_type("string @@ int", named) is Any, "an unreadable type is untyped, not an error"


def test_reflection_rows_build_linked_models_and_enums() -> None:
    rows = ["class\troot.Person", "field\troot.Person\tname\tstring", "field\troot.Person\tfriend\tPerson | null",
            "enum\troot.Mood", "value\troot.Mood\tHappy", "value\troot.Mood\tSad",
            "class\troot.Box", "field\troot.Box\titems\tPerson[]", "field\troot.Box\tmood\tMood",
            "function\troot.Pack\tBox", "param\troot.Pack\tn\tint\tfalse", "param\troot.Pack\tlabel\tstring\ttrue"]
    described = v1types.read_rows(rows)
    assert described.params["Pack"] == [("n", "int", False), ("label", "string", True)]
    module = v1types.build(described)
    box = module.Box.model_validate({"items": [{"name": "Ann", "friend": {"name": "Bo"}}], "mood": "Sad"})
    assert isinstance(box.items[0].friend, module.Person) and box.mood is module.Mood.Sad
    assert issubclass(module.Mood, enum.Enum) and module.Person.model_fields["friend"].default is None
    try:
        module.Person.model_validate({})
    except pydantic.ValidationError as exc:
        assert "name" in str(exc)
    else:
        raise AssertionError("a required field is required")
    assert v1types.resolve(v1types.python_type("Box[]", {"Box": None}), module) == list[module.Box]


SOURCE = """client Local = openai.GenericClient.new(model = "x")

class P {
  a: string, // } a brace in a comment
}
function F(x: string) -> P {
  client: Local
  prompt: `hi ${ {a: 1}.a } ${x} }`
}
test "t1" { assert 1 == 1 }
implement Show for P {}
function G() -> int { 1 }
"""


def test_declarations_are_cut_at_their_keywords_outside_brackets_and_strings() -> None:
    found = [(kind, name) for kind, name, _, _ in declarations(SOURCE)]
    assert found[:4] == [("value", "Local"), ("type", "P"), ("value", "F"), ("test", '"t1"')]
    assert found[-1] == ("value", "G") and found[4][0] == "", "an implement block is a boundary only"


def test_a_later_definition_replaces_an_earlier_one_and_keeps_line_numbers() -> None:
    older, newer = newest_wins([SOURCE, "function F() -> int { 2 }\n"])
    assert "function F(x" not in older and "function G" in older and "class P" in older
    assert older.count("\n") == SOURCE.count("\n") and newer.startswith("function F()")


HIDE_BRIDGE = """
import importlib.abc, json, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "baml_bridge":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Hide())
from baml_magic.testing import TestingShell
shell = TestingShell.instance()
shell.run_cell("%load_ext baml_magic")
try:
    shell.run_cell("%%baml --engine v1\\nfunction F() -> int {\\n  1\\n}\\n")
except Exception as exc:
    shown = [type(exc).__name__, exc._render_traceback_()]
shell.run_cell('%%baml\\nclient<llm> C {\\n  provider "openai-generic"\\n  options {\\n'
               '    base_url "http://127.0.0.1:9/v1"\\n    model "m"\\n  }\\n}\\n'
               'function Echo(x: string) -> string {\\n  client C\\n  prompt #"{{ x }}"#\\n}\\n')
print(json.dumps(shown + [repr(shell.user_ns["Echo"])]))
"""


@pytest.mark.slow  # measured over a second
def test_without_the_v1_extra_a_v1_cell_is_one_line_and_v0_works() -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", HIDE_BRIDGE], capture_output=True, text=True, timeout=120)
    name, shown, echo = json.loads(out.stdout.strip().splitlines()[-1])
    assert name == "V1Unavailable" and len(shown) == 1, shown
    assert "pip install baml-bridge==0.23.0 (the package's v1 extra)" in shown[0]
    assert echo == "<BamlFunction Echo(x: str) -> str>", "v0 goes on without the bridge"
