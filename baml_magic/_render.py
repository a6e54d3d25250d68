"""Typed values (partial or final) as readable text and HTML: fields, not reprs."""

from __future__ import annotations

import enum
import html
import inspect
import json
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

_MEDIA_NAMES = {"BamlImagePy": "Image", "BamlAudioPy": "Audio", "BamlPdfPy": "Pdf", "BamlVideoPy": "Video"}


def short_type(annotation: Any) -> str:
    """A type as a reader would write it: ``list[Story]``, ``Mood | None``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if isinstance(annotation, typing.ForwardRef):
        return annotation.__forward_arg__
    if origin in (typing.Union, types.UnionType):
        return " | ".join(short_type(a) for a in args)
    if origin in (list, typing.List):  # noqa: UP006 - the generator writes typing.List
        return f"list[{short_type(args[0])}]"
    if origin in (dict, typing.Dict):  # noqa: UP006
        return f"dict[{short_type(args[0])}, {short_type(args[1])}]"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if isinstance(annotation, type) and not args:
        return _MEDIA_NAMES.get(annotation.__name__, annotation.__name__)
    return inspect.formatannotation(annotation).replace("typing.", "").replace("_baml_magic_types_", "")


PENDING = "…"


def _fields(value: BaseModel) -> list[tuple[str, Any]]:
    return [(name, getattr(value, name, None)) for name in type(value).model_fields]


def to_text(value: Any, indent: int = 0, growing: bool = False, *, tail: int | None = None) -> str:
    """Indented YAML-like text; missing (not yet streamed) fields show as an ellipsis.

    With ``growing``, fields not streamed yet are left out, so each render extends the last. ``tail``: a string
    longer than this shows only its end, saying how many characters came before.
    """
    pad = "  " * indent
    if value is None:
        return PENDING
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, BaseModel):
        if type(value).__name__ == "StreamState" and hasattr(value, "value"):
            return to_text(value.value, indent, growing, tail=tail)
        lines = []
        for name, item in _fields(value):
            if growing and item is None:
                continue
            rendered = to_text(item, indent + 1, growing, tail=tail)
            if isinstance(item, (BaseModel, list, dict)) and item:
                lines.append(f"{pad}{name}:\n{rendered}")
            else:
                lines.append(f"{pad}{name}: {rendered.strip()}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return f"{pad}[]"
        out = []
        for item in value:
            rendered = to_text(item, indent + 1, growing, tail=tail).strip()
            out.append(f"{pad}- {rendered}".replace("\n", "\n" + pad + "  "))
        return "\n".join(out)
    if isinstance(value, dict):
        if not value:
            return f"{pad}{{}}"
        return "\n".join(f"{pad}{k}: {to_text(v, indent + 1, growing, tail=tail).strip()}" for k, v in value.items())
    if isinstance(value, str) and tail is not None and len(value) > tail:
        return f"… {len(value) - tail:,} characters before\n{value[-tail:]}"
    return str(value)


def to_html(value: Any, *, tail: int | None = None) -> str:
    """A compact HTML view: classes as field tables, lists as numbered lists, strings wrapped.

    ``tail``: a string longer than this shows only its last ``tail`` characters, saying how many came before
    (a live view redraws what is new, not a whole long answer each time).
    """
    if value is None:
        return f'<span class="baml-pending" style="opacity:.5">{PENDING}</span>'
    if isinstance(value, enum.Enum):
        return f'<code class="baml-enum">{html.escape(str(value.value))}</code>'
    if isinstance(value, BaseModel):
        if type(value).__name__ == "StreamState" and hasattr(value, "value"):
            return to_html(value.value, tail=tail)
        rows = "".join(
            f'<tr><th style="text-align:left;vertical-align:top;padding-right:1em">{html.escape(name)}</th>'
            f'<td style="text-align:left">{to_html(item, tail=tail)}</td></tr>'
            for name, item in _fields(value)
        )
        return f'<table class="baml-class" data-type="{html.escape(type(value).__name__)}">{rows}</table>'
    if isinstance(value, list):
        items = "".join(f"<li>{to_html(item, tail=tail)}</li>" for item in value)
        return f'<ol class="baml-list" style="margin:0">{items}</ol>' if value else "<code>[]</code>"
    if isinstance(value, dict):
        rows = "".join(
            f'<tr><th style="text-align:left">{html.escape(str(k))}</th>'
            f'<td style="text-align:left">{to_html(v, tail=tail)}</td></tr>'
            for k, v in value.items()
        )
        return f'<table class="baml-map">{rows}</table>'
    if isinstance(value, str):
        before = ""
        if tail is not None and len(value) > tail:
            before = f'<span class="baml-before" style="opacity:.5">… {len(value) - tail:,} characters before</span>\n'
            value = value[-tail:]
        return f'<span class="baml-string" style="white-space:pre-wrap">{before}{html.escape(value)}</span>'
    return f"<code>{html.escape(repr(value))}</code>"


class Table:
    """Rows shown as an HTML table in a notebook and as aligned text in a terminal."""

    def __init__(self, headers: list[str], rows: list[list[str]], css: str, empty: str = "(none)",
                 notes: Iterable[str] = ()) -> None:
        self.headers, self.rows, self.css, self.empty = headers, rows, css, empty
        self.notes = list(notes)  # one line each, under the table

    def __repr__(self) -> str:
        if not self.rows:
            return self.empty
        widths = [max(len(str(r[i])) for r in [self.headers, *self.rows]) for i in range(len(self.headers))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in [self.headers, *self.rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, *self.notes])

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<em>{html.escape(self.empty)}</em>"
        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'><code>{html.escape(str(c))}</code></td>" for c in row)
            + "</tr>" for row in self.rows
        )
        notes = "".join(f"<div class='baml-magic-note'>{html.escape(n)}</div>" for n in self.notes)
        return f"<table class='{self.css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"


class BoundList:
    """What a %%baml cell or %baml load bound: one Python signature a line."""

    LIMIT = 12

    def __init__(self, signatures: list[str], note: str, total: int | None = None) -> None:
        """``signatures`` may stop after LIMIT + 1 of ``total`` (rendering 500 signatures costs more than it shows)."""
        extra = (len(signatures) if total is None else total) - self.LIMIT
        if extra > 1:
            signatures = [*signatures[:self.LIMIT], f"… and {extra} more (see %baml list)"]
        self.signatures, self.note = signatures, note

    def __repr__(self) -> str:
        return "\n".join([*self.signatures, self.note] if self.note else self.signatures)

    def _repr_html_(self) -> str:
        lines = "".join(f"<div><code>{html.escape(s)}</code></div>" for s in self.signatures)
        note = f"<div style='opacity:.7'>{html.escape(self.note)}</div>" if self.note else ""
        return f"<div class='baml-magic-bound'>{lines}{note}</div>"


def bound_table(specs: dict[str, Any], override: str | None) -> Table:
    """``%baml list``: each bound function's parameters, return type, client and where it is defined."""
    rows = []
    for name, spec in sorted(specs.items()):
        params = ", ".join(f"{p}: {short_type(a)}" for p, a in spec.params)
        rows.append([name, params, short_type(spec.returns), override or spec.client or "", spec.where])
    return Table(["function", "parameters", "returns", "client", "defined in"], rows, "baml-magic-list",
                 "no BAML functions bound yet: write a %%baml cell or %baml load a folder")


def money(dollars: float | None) -> str:
    """``$0.0123``: enough digits to tell small calls apart; "" when unknown."""
    if dollars is None:
        return ""
    if dollars >= 1:
        return f"${dollars:,.2f}"
    return f"${dollars:.4f}" if dollars >= 0.01 else f"${dollars:.6f}"


def short(value: Any, width: int = 60) -> str:
    """A value as at most ``width`` characters of text, an ellipsis where it was cut (non-ASCII as written)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= width else text[:width - 1] + "…"
