"""``stop_when="checks"``: end a call at the first ``@check`` that failed on a field BAML has finished writing.

BAML runs a field's checks on every partial, the unfinished value included (a growing string fails ``length >
20`` until it is long enough), so a failure counts only once the field is complete: the model has gone on to a
later field of the same object (BAML's output format asks for fields in their declared order, and a JSON writer
never returns to a closed key), a later item of the same list, or the answer ended. ``@assert`` is not run on
partials by BAML (an ``int @assert(small, {{ this < 3 }})`` streams 38), so it still fails at the end, as BAML's
own parse error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from baml_magic._errors import ChecksFailed


def _is_checked(value: object) -> bool:
    """A BAML ``Checked[T, ...]`` value (the generated type: its value and its named checks)."""
    return (isinstance(value, BaseModel) and set(type(value).model_fields) == {"value", "checks"}
            and isinstance(getattr(value, "checks", None), dict))


def _begun(value: object) -> bool:
    """Whether the model has started writing a value (an empty list is how BAML shows one not begun)."""
    if _is_checked(value):
        return _begun(value.value)  # type: ignore[attr-defined]
    return value is not None and not (isinstance(value, (list, dict)) and not value)


def _children(value: object) -> Iterator[tuple[str, object, bool]]:
    """(path piece, child, whether a later sibling has begun) in the order the model writes them."""
    if isinstance(value, BaseModel):
        items = [(f".{name}", item) for name, item in value]
    elif isinstance(value, (list, tuple)):
        items = [(f"[{index}]", item) for index, item in enumerate(value)]
    elif isinstance(value, dict):
        items = [(f"[{key!r}]", item) for key, item in value.items()]
    else:
        return
    moved_on = [False] * len(items)  # read from the end once: a later sibling has begun
    for index in range(len(items) - 2, -1, -1):
        moved_on[index] = moved_on[index + 1] or _begun(items[index + 1][1])
    for (piece, item), later in zip(items, moved_on, strict=True):
        yield piece, item, later


def failed_check(value: object, *, whole: bool) -> str | None:
    """``@check short failed on title (this|length < 10)`` for the first failed check on a complete field;
    ``whole``: the answer has ended, so every field is complete."""

    def walk(node: object, path: str, complete: bool) -> str | None:
        if _is_checked(node):
            if complete:
                for name, check in node.checks.items():  # type: ignore[attr-defined]
                    if getattr(check, "status", None) == "failed":
                        return f"@check {name} failed on {path.lstrip('.') or 'the answer'} ({check.expression})"
            return walk(node.value, path, complete)  # type: ignore[attr-defined]
        for piece, child, moved_on in _children(node):
            found = walk(child, path + piece, complete or moved_on)
            if found is not None:
                return found
        return None

    return walk(value, "", whole)


class StopOnChecks:
    """The ``stop_when`` that ``"checks"`` names: raises ``ChecksFailed`` on a failed check of a complete field,
    which ends the call with that error and keeps the partial."""

    def __call__(self, partial: Any) -> bool:
        self.raise_if_failed(partial, whole=False)
        return False

    @staticmethod
    def raise_if_failed(value: Any, *, whole: bool) -> None:
        """Raise ``ChecksFailed`` when a check failed on a complete field of ``value``."""
        failed = failed_check(value, whole=whole)
        if failed is not None:
            raise ChecksFailed(failed, value)

    def __repr__(self) -> str:
        return "'checks'"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StopOnChecks) or other == "checks"

    def __hash__(self) -> int:
        return hash("checks")


STOP_ON_CHECKS = StopOnChecks()


def stops_on_checks(stop_when: object) -> bool:
    """Whether a call's ``stop_when`` is ``"checks"``."""
    return isinstance(stop_when, StopOnChecks)
