"""What a call needs from the environment: a copy of it per call, the variables a client reads, placeholders."""

from __future__ import annotations

import functools
import os
import sys

from baml_magic._errors import MissingEnvVarError
from baml_magic.sources import env_references, url_references
from baml_magic.wire import SHORTHAND_KEYS


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
            urls = url_references(client_blocks[client])[0] if client in client_blocks else set()
            raise MissingEnvVarError(variable, client, url=variable in urls)


def placeholders(client_blocks: dict[str, str]) -> dict[str, str]:
    """A visible stand-in for each unset variable the project's clients read (prompt and request views)."""
    names = {v for block in client_blocks.values() for v in env_references(block)}
    names |= set(SHORTHAND_KEYS.values())
    return {name: f"<{name} not set>" for name in sorted(names) if not os.environ.get(name)}
