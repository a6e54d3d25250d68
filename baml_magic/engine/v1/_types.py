"""BAML v1 types as Python types: pydantic models and enums built from the runtime's own reflection.

No generator for v1 is installable from the registries, so the types are made here from what the
compiled program says of itself (``engine/v1/_bridge.DESCRIBE_SOURCE``): each class's fields with their
types, each enum's values, each function's parameters and return type, as v1 writes types
(``string[]``, ``map<string, int>``, ``Person | null``, ``"a" | "b"``). A type this reading does not know
(a function type, a standard-library class) is ``Any``: the value still comes, untyped.
"""

from __future__ import annotations

import enum
import re
import sys
import types as pytypes
from dataclasses import dataclass, field
from typing import Any, ForwardRef, Literal, Optional, Union

import pydantic

MODULE = "baml_magic_v1_types"
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|->|-?\d+(?:\.\d+)?|[A-Za-z_][\w.]*|\[\]|[<>(),|?])')
_PRIMITIVES: dict[str, Any] = {"string": str, "int": int, "float": float, "bool": bool, "null": type(None),
                               "unknown": Any, "any": Any, "json": Any}


@dataclass
class Described:
    """What the runtime said of the compiled program (read from its rows)."""

    classes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # name -> (field, type)
    enums: dict[str, list[str]] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)  # name -> return type
    params: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)  # name -> (param, type, optional)


def _local(name: str) -> str:
    return name.split(".", 1)[1] if name.startswith(("root.", "user.")) else name


def read_rows(rows: list[str]) -> Described:
    """The reflection rows, by kind (names without the package prefix)."""
    out = Described()
    for row in rows:
        kind, *rest = row.split("\t")
        if kind == "class":
            out.classes.setdefault(_local(rest[0]), [])
        elif kind == "field":
            out.classes.setdefault(_local(rest[0]), []).append((rest[1], rest[2]))
        elif kind == "enum":
            out.enums.setdefault(_local(rest[0]), [])
        elif kind == "value":
            out.enums.setdefault(_local(rest[0]), []).append(rest[1])
        elif kind == "function":
            out.functions[_local(rest[0])] = rest[1]
            out.params.setdefault(_local(rest[0]), [])
        elif kind == "param":
            out.params.setdefault(_local(rest[0]), []).append((rest[1], rest[2], rest[3] == "true"))
    return out


class _Parser:
    """v1's type notation, read by recursive descent; anything unknown raises ValueError."""

    def __init__(self, text: str, named: dict[str, Any]) -> None:
        self.tokens = [t for t in _TOKEN.findall(text)]
        if "".join(self.tokens) != re.sub(r"\s+", "", text):
            raise ValueError(f"unreadable type {text!r}")
        self.at = 0
        self.named = named

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"expected {expected or 'more'}, found {token!r}")
        self.at += 1
        return token

    def whole(self) -> Any:
        found = self.union()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()!r}")
        return found

    def union(self) -> Any:
        members = [self.postfix()]
        while self.peek() == "|":
            self.take()
            members.append(self.postfix())
        if self.peek() == "->":
            raise ValueError("a function type")
        return members[0] if len(members) == 1 else _union(members)

    def postfix(self) -> Any:
        found = self.primary()
        while self.peek() in ("[]", "?"):
            found = pytypes.GenericAlias(list, (found,)) if self.take() == "[]" else Optional[found]  # noqa: UP045 - may be a forward reference (a string)
        return found

    def primary(self) -> Any:
        token = self.take()
        if token == "(":
            inner = self.union()
            self.take(")")
            return inner
        if token.startswith('"'):
            return Literal[token[1:-1].encode().decode("unicode_escape")]
        if token in ("true", "false"):
            return Literal[token == "true"]
        if re.fullmatch(r"-?\d+", token):
            return Literal[int(token)]
        if token == "map":
            self.take("<")
            key = self.union()
            self.take(",")
            value = self.union()
            self.take(">")
            return pytypes.GenericAlias(dict, (key, value))
        if self.peek() == "<":  # a generic standard-library type: untyped here
            depth = 0
            while True:
                part = self.take()
                depth += {"<": 1, ">": -1}.get(part, 0)
                if depth == 0:
                    break
            return Any
        if token in _PRIMITIVES:
            return _PRIMITIVES[token]
        local = _local(token)
        return local if local in self.named else Any  # a user type: a forward reference by name


def _union(members: list[Any]) -> Any:
    literals = [m for m in members if getattr(m, "__origin__", None) is Literal]
    if literals and len(literals) == len(members):
        return Literal[tuple(a for m in literals for a in m.__args__)]
    return Union[tuple(members)]  # noqa: UP007 - members may be forward references (strings)


def python_type(text: str, named: dict[str, Any]) -> Any:
    """A v1 type as a Python annotation (user types as forward references); ``Any`` when unreadable."""
    try:
        return _Parser(text, named).whole()
    except ValueError:
        return Any


def build(described: Described) -> pytypes.ModuleType:
    """A module holding a pydantic model per class and an Enum per enum, references resolved."""
    module = pytypes.ModuleType(MODULE)
    named: dict[str, Any] = {name: None for name in (*described.classes, *described.enums)}
    for name, values in described.enums.items():
        made = enum.Enum(name, {value: value for value in values})  # type: ignore[misc]
        made.__module__ = MODULE
        named[name] = made
    for name, fields in described.classes.items():
        definitions: dict[str, Any] = {}
        for field_name, text in fields:
            annotation = python_type(text, named)
            optional = annotation is Any or type(None) in getattr(annotation, "__args__", ()) or \
                annotation is type(None)
            definitions[field_name] = (annotation, None if optional else ...)
        model = pydantic.create_model(name, __module__=MODULE, **definitions)
        named[name] = model
    for name, value in named.items():
        setattr(module, name, value)
    sys.modules[MODULE] = module  # forward references resolve in the module the models name
    for name in described.classes:
        named[name].model_rebuild(_types_namespace=dict(named))
    return module


def resolve(annotation: Any, module: pytypes.ModuleType) -> Any:
    """An annotation with its forward references (user type names) replaced by the module's types."""
    if isinstance(annotation, (str, ForwardRef)):
        return getattr(module, str(getattr(annotation, "__forward_arg__", annotation)), Any)
    args = getattr(annotation, "__args__", None)
    origin = getattr(annotation, "__origin__", None)
    if not args or origin is Literal:
        return annotation
    resolved = tuple(resolve(a, module) for a in args)
    if origin is Union:
        return Union[resolved]  # noqa: UP007
    if origin in (list, dict):
        return pytypes.GenericAlias(origin, resolved)
    return annotation
