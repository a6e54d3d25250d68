"""A test's verdict as BAML's own runner gives it, from the value and the test block's constraints.

Constraints run in order with ``this`` (the value), ``_.result``, ``_.latency_ms``, ``_.checks`` (the
checks so far) and the test's args in scope. A check records true or false; an assert that is
false fails the test and stops there; an expression that is neither true nor false (or can't be
evaluated) fails it as a constraint error. A test passes when no assert failed and every check held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jinja2

from baml_magic.many import plain
from baml_magic.sources import Constraint


class _Undefined(jinja2.Undefined):
    """An unknown name compares false to anything, as in BAML's minijinja (its attributes still fail)."""

    def _false(self, other: object) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = _false  # type: ignore[assignment]

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = jinja2.Undefined.__hash__


_ENV = jinja2.Environment(autoescape=False, undefined=_Undefined)  # the tests' own expressions, not HTML


@dataclass(frozen=True)
class Verdict:
    """``passed`` or ``failed`` with the reason BAML's runner gives, and every check's outcome."""

    passed: bool
    reason: str = ""
    checks: dict[str, bool] = field(default_factory=dict)


def judge(value: Any, args: dict[str, Any], latency_ms: int, constraints: tuple[Constraint, ...]) -> Verdict:
    """The verdict on one successful call, with BAML's semantics."""
    this = plain(value)
    checks: dict[str, bool] = {}
    for constraint in constraints:
        expression, literals = raw_strings(constraint.expression)
        scope = {**plain(args), **literals, "this": this,
                 "_": {"result": this, "latency_ms": latency_ms, "checks": dict(checks)}}
        try:
            outcome = _ENV.compile_expression(expression, undefined_to_none=False)(**scope)
        except Exception as exc:  # noqa: BLE001 - any failure to evaluate is BAML's "Constraint error"
            return Verdict(False, f"Constraint error: {exc}", checks)
        if isinstance(outcome, jinja2.Undefined) or outcome == "":
            result = False
        elif isinstance(outcome, bool):
            result = outcome
        else:
            return Verdict(False, f"Expected true or false, got {_rendered(outcome)}.", checks)
        if constraint.level == "check":
            if constraint.label:
                checks[constraint.label] = result
        elif not result:
            return Verdict(False, constraint.label or "(unnamed assert)", checks)
    failed = [name for name, ok in checks.items() if not ok]
    return Verdict(not failed, ", ".join(f"{name} - failed" for name in failed), checks)


def raw_strings(expression: str) -> tuple[str, dict[str, str]]:
    """The expression with each string literal replaced by a name bound to it, read as BAML's minijinja reads it:
    from its quote to the next one, as written (no escapes; Jinja would read ``\\n`` as a newline)."""
    out: list[str] = []
    literals: dict[str, str] = {}
    i = 0
    while i < len(expression):
        ch = expression[i]
        end = expression.find(ch, i + 1) if ch in "'\"" else -1
        if end < 0:
            out.append(ch)
            i += 1
            continue
        name = f"__baml_literal_{len(literals)}"
        literals[name] = expression[i + 1:end]
        out.append(f" {name} ")
        i = end + 1
    return "".join(out), literals


def _rendered(value: Any) -> str:
    """A value as minijinja prints it: JSON for lists and maps, ``none`` for None, text otherwise."""
    if value is None:
        return "none"
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:200]
    return str(value)[:200]


def field_checks(value: Any) -> dict[str, bool]:
    """The function's own ``@check`` results anywhere in a value: name -> passed."""
    found: dict[str, bool] = {}

    def walk(data: Any) -> None:
        if isinstance(data, dict):
            if set(data) == {"value", "checks"} and isinstance(data["checks"], dict):
                for name, check in data["checks"].items():
                    found[name] = found.get(name, True) and check.get("status") == "succeeded"
            for item in data.values():
                walk(item)
        elif isinstance(data, list):
            for item in data:
                walk(item)

    walk(plain(value))
    return found
