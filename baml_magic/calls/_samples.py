"""Small valid values for any generated BAML type: arguments that fit a function's signature.

The batch API uses them to build one representative request of a function (where its provider
lives, which API style it speaks) when it picks up a batch by id; the tests call every function
of a project with them.
"""

from __future__ import annotations

import base64
import enum
import typing
from typing import Any

import baml_py
from pydantic import BaseModel

_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0500f0004850180848a8c21"
    "0000000049454e44ae426082")


def sample_value(annotation: Any, depth: int = 0, namespace: Any = None) -> Any:
    """A small valid value of a generated BAML type (classes, enums, literals, unions, media, ...).

    ``namespace`` (the generated types module) resolves the forward references of classes and aliases.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, str):
        annotation = typing.ForwardRef(annotation)
    if isinstance(annotation, typing.ForwardRef):
        target = getattr(namespace, annotation.__forward_arg__, None)
        if target is None:
            raise TypeError(f"no sample value for {annotation!r}")
        annotation = target
    if annotation is type(None):
        return None
    if annotation is str:
        return "a lighthouse keeper who counts ships"
    if annotation is bool:
        return True
    if annotation is int:
        return 3
    if annotation is float:
        return 1.5
    if origin is typing.Literal:
        return args[0]
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        options = [a for a in args if a is not type(None)]
        simple = [a for a in options if typing.get_origin(a) not in (list, dict)
                  and not isinstance(a, (str, typing.ForwardRef))] if depth > 1 else options
        return sample_value((simple or options)[0], depth + 1, namespace)
    if origin is list:
        return [] if depth > 2 else [sample_value(args[0], depth + 1, namespace)]
    if origin is dict:
        if depth > 2:
            return {}
        return {sample_value(args[0], depth + 1, namespace): sample_value(args[1], depth + 1, namespace)}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        values = {}
        for name, field in annotation.model_fields.items():
            if field.is_required():
                values[field.alias or name] = sample_value(field.annotation, depth + 1, namespace)
        return annotation.model_validate(values)
    media = {baml_py.Image: ("image/png", _PNG), baml_py.Audio: ("audio/wav", b"RIFF0000WAVEfmt "),
             baml_py.Pdf: ("application/pdf", b"%PDF-1.4\n%%EOF\n"), baml_py.Video: ("video/mp4", b"\0\0\0 ftypisom")}
    if annotation in media:
        media_type, data = media[annotation]
        encoded = base64.b64encode(data).decode()
        return annotation.from_base64(encoded) if annotation is baml_py.Pdf else annotation.from_base64(
            media_type, encoded)
    if isinstance(annotation, typing.TypeVar) or annotation is Any:
        return "value"
    raise TypeError(f"no sample value for {annotation!r}")


def sample_args(fn: Any) -> dict[str, Any]:
    """Keyword arguments that fit a BamlFunction's parameters."""
    namespace = fn.compiled.types.types
    return {name: sample_value(annotation, 0, namespace) for name, annotation in fn.spec.params}


