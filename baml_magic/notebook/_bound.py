"""What the playground and ``Fn.batch`` use of a bound function: a protocol, so they need not import it
(the bound function imports them)."""

from __future__ import annotations

import inspect
from typing import Any, Protocol

from baml_magic.calls import CallOptions, PromptView, RequestView, Run
from baml_magic.engine import Compiled, FunctionSpec


class Bound(Protocol):
    """A bound BAML function, as the playground and batching see it."""

    spec: FunctionSpec
    compiled: Compiled
    options: CallOptions
    _session: Any
    __signature__: inspect.Signature

    @property
    def client_in_force(self) -> str | None: ...

    @property
    def version(self) -> str: ...

    @property
    def _returns_hint(self) -> tuple[Any, dict[str, dict[str, str]]] | None: ...

    def _open_run(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, foreground: bool = True,
                 stream: bool | None = True, env: dict[str, str] | None = None, kept: str | None = "call") -> Run: ...

    def _http_request(self, args: tuple[Any, ...], kwargs: dict[str, Any], stream: bool, *,
                      sending: bool = False) -> Any: ...

    def prompt(self, *args: Any, **kwargs: Any) -> PromptView: ...

    def request(self, *args: Any, **kwargs: Any) -> RequestView: ...

    def with_options(self, *, client: str | None = None, timeout: float | None = None,
                     idle_timeout: float | None = None, tb: Any = None, stream: bool | None = None,
                     allow_incomplete: bool | None = None, stop_when: Any = None) -> Bound: ...
