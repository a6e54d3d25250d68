"""A BAML function's Python signature, its types as a reader writes them, and argument checks.

Arguments are checked with pydantic against the generated types before any request is sent,
so a wrong argument is a ``TypeError`` naming the parameter.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from typing import Any

from pydantic import BaseModel, PydanticUserError, TypeAdapter, ValidationError

from baml_magic._render import short_type
from baml_magic.calls._media import convert, has_media
from baml_magic.engine import FunctionSpec


def _is_optional(annotation: Any) -> bool:
    return annotation is type(None) or type(None) in typing.get_args(annotation)


def build_signature(spec: FunctionSpec) -> inspect.Signature:
    """Parameters as BAML declares them; trailing optional ones default to None."""
    required_after = {i for i, (_, ann) in enumerate(spec.params) if not _is_optional(ann)}
    last_required = max(required_after, default=-1)
    params = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ann,
                          default=None if i > last_required else inspect.Parameter.empty)
        for i, (name, ann) in enumerate(spec.params)
    ]
    return inspect.Signature(params, return_annotation=spec.returns)


def python_signature(spec: FunctionSpec) -> str:
    """``GenerateStory(prompt: str, n: int | None = None) -> Story``, short type names."""
    sig = build_signature(spec)
    parts = []
    for p in sig.parameters.values():
        text = f"{p.name}: {short_type(p.annotation)}"
        if p.default is not inspect.Parameter.empty:
            text += " = None"
        parts.append(text)
    return f"{spec.name}({', '.join(parts)}) -> {short_type(spec.returns)}"


def docstring(spec: FunctionSpec) -> str:
    lines = [python_signature(spec), "", f"BAML: {spec.baml_signature}"]
    if spec.client:
        lines.append(f"Client: {spec.client}")
    lines.append(f"Defined in: {spec.where}")
    if spec.prompt:
        lines += ["", "Prompt:", *("    " + line for line in spec.prompt.splitlines())]
    return "\n".join(lines)


def _adapter(annotation: Any, module: str) -> TypeAdapter[Any]:
    """A validator for a parameter; forward references resolve in the generated types.

    A recursive alias (``type Tree = string | map<string, Tree>``) can't be built by pydantic from
    its expanded form: such a parameter is left to BAML's own checks at call time.
    """
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation, module=module)
        adapter.json_schema()  # builds the validator, which fails on a reference pydantic can't resolve
        return adapter
    except PydanticUserError:
        return TypeAdapter(Any)


def _not_unicode(value: Any, depth: int = 0) -> str | None:
    """Where a value holds text that can't be sent (a lone surrogate, as from a bad decode), if it does."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"{value[exc.start]!r} at position {exc.start} (a lone surrogate)"
        return None
    if depth > 50:
        return None
    if isinstance(value, BaseModel):
        value = dict(value)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = _not_unicode(key, depth + 1) or _not_unicode(item, depth + 1)
        if found is not None:
            return found
    return None


class Arguments:
    """Binds a call's arguments to a function's signature and checks them against its types."""

    def __init__(self, spec: FunctionSpec, types_module: str) -> None:
        self.spec = spec
        self.signature = build_signature(spec)
        self._module = types_module
        self._adapters: dict[str, TypeAdapter[Any]] = {}
        self._media = {name for name, annotation in spec.params if has_media(annotation)}

    @property
    def takes_media(self) -> bool:
        return bool(self._media)

    def check(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The arguments by name, validated; a ``TypeError`` naming the parameter otherwise."""
        params = self.signature.parameters
        for name in kwargs:
            if name not in params:
                close = difflib.get_close_matches(name, list(params), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; parameters: {', '.join(params) or 'none'}"
                raise TypeError(f"{self.spec.name}() got an unexpected keyword argument {name!r}{hint}")
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.spec.name}(): {exc}") from None
        bound.apply_defaults()
        values = {}
        for name, annotation in self.spec.params:
            value = bound.arguments.get(name)
            if name in self._media:  # a path, URL, bytes or image object where BAML wants media
                value = convert(annotation, value, f"{self.spec.name}() argument {name!r}")
            adapter = self._adapters.get(name)
            if adapter is None:
                adapter = self._adapters[name] = _adapter(annotation, self._module)
            try:
                values[name] = adapter.validate_python(value)
            except ValidationError as exc:
                errors = exc.errors()
                where = ".".join(str(part) for part in errors[0]["loc"]) if errors and errors[0]["loc"] else ""
                detail = (f"{where}: " if where else "") + errors[0]["msg"] if errors else str(exc)
                raise TypeError(f"{self.spec.name}() argument {name!r} must be {short_type(annotation)}, "
                                f"got {value!r:.60}: {detail}") from None
            at = _not_unicode(values[name])
            if at is not None:
                raise TypeError(f"{self.spec.name}() argument {name!r} is not valid Unicode text: {at}")
        return values
