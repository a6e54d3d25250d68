"""``%baml client`` and ``%baml clients``: the client every call uses, and the project's clients."""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError

from baml_magic._render import Table
from baml_magic.notebook._clients import table, validate
from baml_magic.notebook._host import Host, any_compiled


def client_command(host: Host, options: argparse.Namespace) -> str:
    """``%baml client [NAME | provider/model | --reset]``."""
    session = host.session
    if options.reset and options.name:
        raise UsageError("usage: %baml client [NAME | provider/model | --reset]")
    if options.reset:
        session.client_override = None
    elif options.name:
        session.client_override = validate(options.name, any_compiled(host))
    if session.client_override:
        return f"every call uses client {session.client_override}"
    own = ", ".join(f"{n}: {fn.spec.client}" for n, fn in sorted(host.bound.items()))
    return f"each function uses its own client ({own or 'no functions bound'})"


def clients_command(host: Host, options: argparse.Namespace) -> Table:
    """``%baml clients``."""
    return table(any_compiled(host), host.session.client_override)
