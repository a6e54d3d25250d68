"""Type aliases made whole: a generated annotation's forward references resolved, recursive aliases included.

BAML's generator writes a recursive alias (``type JsonValue = ... | JsonValue[] | map<string, JsonValue>``)
as a ``Union`` whose inner references are strings, which leaves ``ForwardRef('JsonValue')`` in a
signature: nothing can build an argument from it, and it reads badly. Each such name becomes a
``TypeAliasType`` (named as BAML names it, recursive as declared), which pydantic validates.
"""

from __future__ import annotations

import sys
import types as pytypes
import typing
from typing import Any, ForwardRef

from typing_extensions import TypeAliasType


class Aliases:
    """The resolved aliases of one generated types module, in a module of their own (pydantic resolves an
    alias's inner references by its module's names)."""

    def __init__(self, types: pytypes.ModuleType) -> None:
        self.types = types
        self.holder = pytypes.ModuleType(f"{types.__name__}_aliases")
        self.holder.__dict__.update({k: v for k, v in vars(types).items() if not k.startswith("__")})
        sys.modules[self.holder.__name__] = self.holder
        self.made: dict[str, Any] = {}

    def resolve(self, annotation: Any) -> Any:
        """The annotation with every forward reference to a generated name replaced by what it names."""
        if isinstance(annotation, str):
            annotation = ForwardRef(annotation)
        if isinstance(annotation, ForwardRef):
            return self._named(annotation.__forward_arg__, annotation)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is None or not args or origin is typing.Literal:
            return annotation
        resolved = tuple(self.resolve(a) for a in args)
        if resolved == args:
            return annotation
        if origin is typing.Union:
            return typing.Union[resolved]  # noqa: UP007 - built from a tuple of members
        if origin in (list, dict):  # typing.List / typing.Dict as the builtins they stand for
            return origin.__class_getitem__(resolved if origin is dict else resolved[0])
        copy_with = getattr(annotation, "copy_with", None)
        return copy_with(resolved) if copy_with is not None else annotation

    def _named(self, name: str, unresolved: ForwardRef) -> Any:
        if name in self.made:
            return self.made[name]
        target = getattr(self.types, name, None)
        if target is None:
            return unresolved
        if isinstance(target, type):  # a class (a model or an enum): itself
            return target
        alias = TypeAliasType(name, target)  # type: ignore[misc]  # the value's references to ``name`` find it
        alias.__module__ = self.holder.__name__  # type: ignore[misc]
        setattr(self.holder, name, alias)
        self.made[name] = alias
        return alias
