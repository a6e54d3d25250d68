"""The two protocols every engine implements: the one place that talks to a BAML runtime.

Everything else (runs, maps, views, magics) asks an ``Engine`` (one per compiled project) and the
``EngineCall`` it opens, never the runtime itself. ``v0`` runs BAML as baml-py does today; a second
engine (BAML v1) is another implementation of the same two protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from baml_magic.wire import Facts


class EngineCall(Protocol):
    """One call of a function: started once (streamed, in one piece, or blocking), aborted at any time."""

    wire_streamed: bool
    """Whether the answer came over a stream (set once the call has started): its end marker then says whether
    it is whole."""

    async def stream(self, on_partial: Callable[[Any], None],
                     on_reasoning: Callable[[str], None] | None = None) -> Any:
        """The typed value, calling ``on_partial`` with each typed partial as it arrives and ``on_reasoning``
        with each piece of the model's thinking (where the engine can read it while the answer streams)."""

    async def call(self, *, plain: bool = False) -> Any:
        """The typed value in one piece, asked for so that an abort also stops the provider's generation (a
        server notices a closed connection only when it writes to it: the request is streamed on the wire where
        the engine can); ``plain``: a plain request (for a model or proxy that can't stream)."""

    def call_blocking(self, *, plain: bool = False) -> Any:
        """The same, on this thread (an abort from another thread ends it)."""

    async def request(self) -> Any:
        """The HTTP request this call sends (``url``, ``headers``, ``body.json()``), built without sending it."""

    def parse(self, text: str, partial: bool) -> Any:
        """An answer's text as this function's type (``partial``: as far as it goes)."""

    def abort(self) -> None:
        """Close the request now."""

    def facts(self, error: BaseException | None = None) -> Facts:
        """What the call's log says (usage, who answered, the raw answer), read once it has ended."""

    def problem(self) -> str | None:
        """Why the answer is not what was asked, when the provider said so (a refusal, a cut)."""

    def release(self) -> None:
        """Let go of the call's log and raw stream (what ``facts`` read stays)."""


class Engine(Protocol):
    """A compiled project's runtime: calls, requests and parsing of its functions."""

    def open_call(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                  env: dict[str, str], stream: bool) -> EngineCall:
        """A call, not yet started. ``client``: a client in place of the function's own (None: its own)."""

    def build_request(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                      env: dict[str, str], stream: bool) -> Any:
        """The HTTP request a call would send, built on this thread."""

    async def build_request_async(self, function: str, args: dict[str, Any], *, client: str | None, tb: Any,
                                  env: dict[str, str], stream: bool) -> Any:
        """The same, on an event loop (it may fetch media URLs)."""

    def parse(self, function: str, text: str, *, partial: bool, client: str | None, tb: Any,
              env: dict[str, str]) -> Any:
        """An answer's text as the function's type."""

    def client_problem(self, function: str, client: str, env: dict[str, str]) -> str | None:
        """Why the runtime can't make ``client`` (a shorthand it does not know), or None."""

    def type_builder(self) -> Any:
        """A new TypeBuilder of this project (for ``@@dynamic`` types)."""

    def require(self, feature: str) -> None:
        """Raise one line when this engine can't do ``feature`` (``batch``, ``compare``, ``client``, ``tb``,
        ``cache``); what it can do, it says nothing."""


__all__ = ["Engine", "EngineCall"]
