"""Which client a call uses, what it needs from the environment, and the project's clients as a table."""

from __future__ import annotations

import os
import re

import baml_py

from baml_magic._blocks import env_references
from baml_magic._errors import MissingEnvVarError, ShortError
from baml_magic._providers import SHORTHAND_KEYS


class UnknownClientError(ShortError):
    """A client name the project does not define (and not a provider/model shorthand)."""


def is_shorthand(name: str) -> bool:
    return "/" in name


def required_env(client: str, client_blocks: dict[str, str]) -> list[str]:
    """Environment variables a client reads: ``env.X`` in its block, or the shorthand provider's key."""
    if client in client_blocks:
        return env_references(client_blocks[client])
    if is_shorthand(client):
        key = SHORTHAND_KEYS.get(client.split("/", 1)[0])
        return [key] if key else []
    return []


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


def validate(client: str, client_blocks: dict[str, str]) -> str:
    """The client name if the project defines it or it is a provider/model shorthand."""
    if client in client_blocks or is_shorthand(client):
        return client
    known = ", ".join(sorted(client_blocks)) or "none"
    raise UnknownClientError(
        f"no client {client!r} in the project (clients: {known}); or use a provider/model shorthand "
        "such as openai/gpt-4o-mini"
    )


def describe(block_text: str) -> tuple[str, str]:
    """(provider, model) as a client block writes them."""
    provider = re.search(r'^\s*provider\s+"?([\w\-/]+)"?', block_text, re.M)
    model = re.search(r'^\s*model\s+"([^"]*)"', block_text, re.M)
    return (provider.group(1) if provider else "?", model.group(1) if model else "")


def registry(client: str | None) -> baml_py.ClientRegistry | None:
    """A ClientRegistry making ``client`` the primary (a project client or a shorthand), or None."""
    if client is None:
        return None
    reg = baml_py.ClientRegistry()
    reg.set_primary(client)
    return reg
