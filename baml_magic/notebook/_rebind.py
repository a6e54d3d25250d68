"""Bind another text of a function's BAML in the session: an optimizer candidate (``result.apply(N)``) or a kept
version (``Fn.restore(VERSION)``, ``%baml runs restore``).

The function's block (and, for a version, its client's) is replaced in the source it came from, the project
compiles and binds as a re-run cell does; a cell's new source is printed ready to paste, a loaded folder's file is
written only when asked.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baml_magic._errors import ShortError
from baml_magic._redact import REDACTED
from baml_magic.sources import split_blocks

if TYPE_CHECKING:
    from baml_magic.notebook._function import BamlFunction
    from baml_magic.notebook._host import Host


class RestoreError(ShortError):
    """A version that can't be bound again (not kept, its source not found, a file that can't be written)."""


def replace_blocks(text: str, replacements: dict[tuple[str, str], str]) -> tuple[str, list[str]]:
    """``text`` with each (kind, name) block replaced; the names of those not found in it."""
    missing = []
    for (kind, name), new in replacements.items():
        block = next((b for b in split_blocks(text) if b.kind == kind and b.name == name), None)
        if block is None:
            missing.append(name)
            continue
        text = text[:block.start] + new + text[block.end:]
    return text, missing


def rebind(host: Host, function: str, change: Any, *, write: bool, what: str,
           error: type[ShortError] = RestoreError) -> BamlFunction:
    """Compile and bind ``change(source_text)`` (the function's source with its new text) in place of the
    function's source; ``what``: what it now runs, in the printed line."""
    fn = host.bound.get(function)
    if fn is None:
        raise error(f"{function} is not bound in this session: run its cell or load its folder")
    project = host.project_for(fn.compiled.engine_name)
    source = project.sources.get(fn.spec.source_key)
    if source is None:
        raise error(f"can't find the source {function} comes from")
    if write and source.is_cell:
        raise error(f"{function} is defined in a cell, not a file: paste the cell source shown instead")
    text = change(source.text)
    compiled = project.update([dataclasses.replace(source, text=text)])  # a text that doesn't compile stops here
    if write:
        try:
            Path(source.key).write_text(text)
        except OSError as exc:
            project.update([source])
            raise error(f"can't write {source.key} ({exc.strerror or exc}): nothing was bound or changed; "
                        "make it writable, or bind it in this session only (write=False)") from None
    host.binder.bind(compiled)
    if source.is_cell:
        print(f"{function} now runs {what}; the cell's new source, to paste:\n\n%%baml{text}")
    elif write:
        print(f"{function} now runs {what}, written to {source.key}")
    else:
        print(f"{function} now runs {what} in this session ({source.label} is unchanged; write=True writes it)")
    bound: BamlFunction = host.bound[function]
    return bound


def restore(host: Host, fn: BamlFunction, ref: str | int, write: bool) -> BamlFunction:
    """``Fn.restore(VERSION)``: the kept version's BAML bound again (its client's too, unless its kept copy had
    secrets scrubbed out)."""
    history = host.session.history
    text = str(ref)
    version = history.resolve(fn.spec.name, text, fn.version)
    if version is None:
        known = ", ".join(f"v{i}" for i, _ in enumerate(history.versions_of(fn.spec.name), 1)) or "none"
        raise RestoreError(f"{fn.spec.name} has no kept version {text!r}; kept: {known}")
    if REDACTED in version.source:
        raise RestoreError(f"{fn.spec.name}'s kept v{history.number(fn.spec.name, version.hash)} had secret values "
                           "scrubbed from it: it can't be written back")
    replacements = {("function", fn.spec.name): version.source}
    client = fn.spec.client or ""
    kept_client = bool(version.client_source) and REDACTED not in version.client_source \
        and version.client_source != fn.compiled.clients.get(client, "").strip() \
        and version.client_source.lstrip().startswith("client")
    if kept_client:
        replacements[("client", client)] = version.client_source

    elsewhere: list[str] = []

    def change(source_text: str) -> str:
        new, missing = replace_blocks(source_text, replacements)
        if fn.spec.name in missing:
            raise RestoreError(f"can't find {fn.spec.name} in its source to replace it")
        elsewhere.extend(missing)
        return new

    label = history.label(fn.spec.name, version.hash)
    bound = rebind(host, fn.spec.name, change, write=write, what=f"version {label}")
    if elsewhere:
        print(f"(client {client}, which that version ran with another text, is defined in another source: "
              "it is left as it is)")
    return bound
