"""Which client a call uses, what it needs from the environment, and the project's clients as a table."""

from __future__ import annotations

import functools
import os
import re
import sys

from baml_magic._blocks import env_references
from baml_magic._errors import MissingEnvVarError, ShortError
from baml_magic._project import Compiled
from baml_magic._providers import SHORTHAND_KEYS
from baml_magic._redact import strip_noise
from baml_magic._render import Table
from baml_magic.engine.v1 import require_v0


class UnknownClientError(ShortError):
    """A client name the project does not define (and not a provider/model shorthand)."""


def is_shorthand(name: str) -> bool:
    return "/" in name


def required_env(client: str, client_blocks: dict[str, str]) -> tuple[str, ...]:
    """Environment variables a client reads: ``env.X`` in its block, or the shorthand provider's key."""
    if client in client_blocks:
        return _block_env(client_blocks[client])
    if is_shorthand(client):
        key = SHORTHAND_KEYS.get(client.split("/", 1)[0])
        return (key,) if key else ()
    return ()


@functools.lru_cache(maxsize=1024)
def _block_env(block_text: str) -> tuple[str, ...]:
    return tuple(env_references(block_text))  # every call checks its client's: read each block once


def environ() -> dict[str, str]:
    """A copy of the process environment, as BAML takes it on every call.

    Decoded straight from ``os.environ``'s bytes where it keeps them (POSIX): a third of the cost
    of ``dict(os.environ)``, which decodes each item through Python-level methods.
    """
    data = getattr(os.environ, "_data", None)
    if os.name != "posix" or not isinstance(data, dict):
        return dict(os.environ)
    encoding = sys.getfilesystemencoding()
    return dict(zip([k.decode(encoding, "surrogateescape") for k in data],
                    [v.decode(encoding, "surrogateescape") for v in data.values()], strict=True))


def check_env(client: str, client_blocks: dict[str, str]) -> None:
    """Raise before any request when a variable the client needs is unset."""
    for variable in required_env(client, client_blocks):
        if not os.environ.get(variable):
            raise MissingEnvVarError(variable, client)


def placeholders(client_blocks: dict[str, str]) -> dict[str, str]:
    """A visible stand-in for each unset variable the project's clients read (prompt and request views)."""
    names = {v for block in client_blocks.values() for v in env_references(block)}
    names |= set(SHORTHAND_KEYS.values())
    return {name: f"<{name} not set>" for name in sorted(names) if not os.environ.get(name)}


# What BAML says when it can't make a client of a name at all (as opposed to a missing key or region).
_NOT_A_CLIENT = ("Invalid client provider", "Could not find client", "Failed to parse client")


def validate(client: str, compiled: Compiled) -> str:
    """The client name, if the project defines it or BAML can make a client of it as a provider/model shorthand.

    BAML itself is asked (a request is built, nothing is sent), so ``foo/bar`` or ``vertex-ai/x`` without the
    options it needs fail here, with BAML's reason, instead of at the first call.
    """
    require_v0(compiled.engine_name, "client")
    if not isinstance(client, str) or not client.strip():
        raise UnknownClientError(f"a client is a name or provider/model, got {client!r:.40}")
    if client in compiled.clients:
        return client
    known = ", ".join(sorted(compiled.clients)) or "none"
    if not is_shorthand(client):
        raise UnknownClientError(f"no client {client!r} in the project (clients: {known}); or use a "
                                 "provider/model shorthand such as openai/gpt-4o-mini")
    provider, _, model = client.partition("/")
    if not provider or not model:
        raise UnknownClientError(f"{client!r}: a shorthand client is provider/model, such as openai/gpt-4o-mini")
    function = next(iter(compiled.functions), None)
    if function is None:
        return client
    env = {**placeholders(compiled.clients), **os.environ}
    problem = compiled.engine.client_problem(function, client, env)
    if problem is not None:
        reason = strip_noise(problem).splitlines()[0] if problem.strip() else "?"
        if any(marker in reason for marker in _NOT_A_CLIENT):
            raise UnknownClientError(f"BAML can't make a client of {client!r}: {reason} (project clients: "
                                     f"{known})") from None
    return client


def describe(block_text: str) -> tuple[str, str]:
    """(provider, model) as a client block writes them."""
    provider = re.search(r'^\s*provider\s+"?([\w\-/]+)"?', block_text, re.M)
    model = re.search(r'^\s*model\s+"([^"]*)"', block_text, re.M)
    return (provider.group(1) if provider else "?", model.group(1) if model else "")


def table(compiled: Compiled, override: str | None) -> Table:
    """``%baml clients``: each client's provider, model, the variables it reads, and whether it is in force."""
    rows = []
    for name, block in sorted(compiled.clients.items()):
        provider, model = describe(block)
        in_force = "every call" if name == override else ""
        rows.append([name, provider, model, ", ".join(required_env(name, compiled.clients)), in_force])
    return Table(["client", "provider", "model", "reads", "in force for"], rows, "baml-magic-clients",
                 "no clients in the project")
