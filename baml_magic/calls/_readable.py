"""A call's error in words people read: BAML's own exception class, whose ``str()`` is one clear message.

baml-py's call errors print as reprs (``BamlClientHttpError(client_name=..., status_code=2, ...)``) and a parse
failure's message is the Rust ``Debug`` dump of its parser's error tree (``ParsingError { scope: [], reason: ...,
causes: [...] }``). Here each becomes a subclass of the same BAML class (so ``except BamlValidationError`` still
catches it) with the message people need: which fields, as which type, what the answer began with; an HTTP
status only when a server answered.
"""

from __future__ import annotations

import re
from typing import Any

from baml_py.errors import (
    BamlAbortError,
    BamlClientError,
    BamlClientFinishReasonError,
    BamlClientHttpError,
    BamlError,
    BamlTimeoutError,
    BamlValidationError,
)

from baml_magic._errors import clean_message

RAW_SHOWN = 80  # characters of a raw answer a parse failure quotes

_PARSING = re.compile(r'ParsingError \{ scope: \[([^\]]*)\], reason: "((?:[^"\\]|\\.)*)", causes: \[\] \}')
_MISSING = re.compile(r"Missing required fields?: (.+)")
_FIELD_MISSING_IN_EVENT = re.compile(r"Failed to parse into a responses API stream event.*missing field `([^`]+)`",
                                     re.S)


def _path(scope: str) -> str:
    parts = [p.strip().strip('"') for p in scope.split(",") if p.strip().strip('"') not in ("", "<root>")]
    return ".".join(parts)


def parse_problem(message: str) -> str | None:
    """What a BAML parse failure says, without its ``Debug`` form: missing fields, and each field's reason."""
    if "ParsingError {" not in message:
        return None
    missing: list[str] = []
    reasons: list[str] = []
    for scope, reason in _PARSING.findall(message):
        reason = reason.replace('\\"', '"')
        where = _path(scope)
        found = _MISSING.match(reason)
        if found:
            missing.append(f"{where}.{found.group(1)}" if where else found.group(1))
        elif reason not in reasons:
            reasons.append(f"{where}: {reason}" if where else reason)
    said = []
    if missing:
        said.append(f"missing required field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    said += reasons[:3]
    return "; ".join(said) or "its parser found nothing it could use"


def _began(raw: str | None) -> str:
    text = " ".join((raw or "").split())
    if not text:
        return "the answer was empty"
    return f"the answer began {text[:RAW_SHOWN]!r}" + ("…" if len(text) > RAW_SHOWN else "")


def parse_failure(function: str, returns: str, message: str, raw: str | None) -> str | None:
    """A parse failure's one line, or None when ``message`` is no parser dump."""
    problem = parse_problem(message)
    if problem is None:
        return None
    return f"{function}: BAML could not read the answer as {returns or 'the return type'} ({problem}); {_began(raw)}"


def transport_problem(function: str, client: str, message: str, answered: bool) -> str | None:
    """A client error's one line where BAML's words mislead: a server that never answered, an empty stream, a
    Responses API stream BAML can't read."""
    message = " ".join(clean_message(message).split())
    field = _FIELD_MISSING_IN_EVENT.search(message)
    if field:
        return (f"{function}: client {client}'s server sent a Responses API event without `{field.group(1)}` (every "
                "event of OpenAI's Responses API has it): it does not speak that API as BAML reads it; point an "
                "openai-generic client at it instead")
    if "Stream ended without receiving any events" in message:
        return (f"{function}: client {client}'s server answered with an empty stream (no event at all); a server may "
                "do that for a prompt longer than its context")
    if not answered:
        return f"{function}: no HTTP answer from client {client}'s server ({message})"
    return None


def _message(error: Any) -> str:
    return str(getattr(error, "message", "") or BaseException.__str__(error))


_READABLE: dict[type[BaseException], type[BaseException]] = {}
CLASSES = (BamlValidationError, BamlClientHttpError, BamlClientFinishReasonError, BamlTimeoutError, BamlClientError,
           BamlAbortError, BamlError)


def readable(error: BaseException, message: str | None = None, *, http: bool = True) -> BaseException:
    """The error as its BAML class, ``str()`` giving its message (``message`` in place of BAML's), messages
    cleaned of Rust backtraces; ``http=False``: no server answered, so no HTTP status is shown."""
    base = type(error)
    if base not in CLASSES:
        if message is None and http:
            return error
        base = next((c for c in CLASSES if isinstance(error, c)), base)
        if base not in CLASSES:
            return error
    cls = _READABLE.get(base)
    if cls is None:
        cls = type(base.__name__, (base,), {"__str__": _message, "__repr__": lambda self: f"{base.__name__}("
                                            f"{_message(self)!r})", "__module__": base.__module__,
                                            "__doc__": base.__doc__})
        _READABLE[base] = cls
    new = cls.__new__(cls, *error.args)
    new.__dict__.update(getattr(error, "__dict__", {}))
    text = clean_message(message if message is not None else _message(error))
    status = getattr(error, "status_code", None)
    if http and isinstance(status, int) and 100 <= status <= 599 and not text.startswith("HTTP "):
        text = f"HTTP {status}: {text}"
    new.message = text  # type: ignore[attr-defined]
    new.args = (new.message,)  # type: ignore[attr-defined]
    new.http_answered = http  # type: ignore[attr-defined]
    new.__traceback__ = error.__traceback__
    return new
