"""``%baml list``: each bound function's parameters, return type, client and where it is defined."""

from __future__ import annotations

import argparse

from baml_magic import _render as render
from baml_magic._render import Table
from baml_magic.notebook._host import Host


def list_command(host: Host, options: argparse.Namespace) -> Table:
    """The bound functions as a table (the client override in force, if any)."""
    return render.bound_table({n: fn.spec for n, fn in host.bound.items()}, host.session.client_override)
