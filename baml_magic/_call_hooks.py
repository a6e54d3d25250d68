"""A hook of the call path for a test double: what a stand-in model needs to hear before a request comes.

The product knows no test double. The offline model (``baml_magic.local_llm``) plugs in here when it is
started in this process: for a prompt that writes its output format by hand, it is told the function's
declared return type before the request is sent, so it can answer in that type. With nothing plugged in,
no return type is worked out and no call takes a detour (the main-thread fast path stays open).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baml_magic._listeners import Listeners


@dataclass(frozen=True)
class Expected:
    """A request about to be sent to ``url`` (its JSON ``body``) and the type its answer must have."""

    url: str
    body: Any
    returns: Any  # the Python annotation of the function's return type (BAML's generated type)
    aliases: dict[str, dict[str, str]]  # per class or enum, the names BAML's @alias gives its fields or values


Listener = Callable[[list[Expected]], None]
_listeners: Listeners[list[Expected]] = Listeners()


def listen(listener: Listener) -> None:
    """Hear every request whose prompt writes its format by hand, before it is sent (once per listener)."""
    _listeners.add(listener)


def forget(listener: Listener) -> None:
    _listeners.remove(listener)


def listening() -> bool:
    """Whether anything listens (else nothing is worked out for it)."""
    return bool(_listeners)


def tell(expected: list[Expected]) -> None:
    """Tell every listener; one that fails never fails the call."""
    _listeners.tell(expected)
