"""Which client a call uses (validated against the project) and the project's clients as a table."""

from __future__ import annotations

import os
import re

from baml_magic._errors import ShortError
from baml_magic._redact import strip_noise
from baml_magic._render import Table
from baml_magic.calls import env_placeholders, is_shorthand, required_env
from baml_magic.engine import Compiled


class UnknownClientError(ShortError):
    """A client name the project does not define (and not a provider/model shorthand)."""


# What BAML says when it can't make a client of a name at all (as opposed to a missing key or region).
_NOT_A_CLIENT = ("Invalid client provider", "Could not find client", "Failed to parse client")


def validate(client: str, compiled: Compiled) -> str:
    """The client name, if the project defines it or BAML can make a client of it as a provider/model shorthand.

    BAML itself is asked (a request is built, nothing is sent), so ``foo/bar`` or ``vertex-ai/x`` without the
    options it needs fail here, with BAML's reason, instead of at the first call.
    """
    compiled.engine.require("client")
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
    env = {**env_placeholders(compiled.clients), **os.environ}
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
