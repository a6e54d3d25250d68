"""``%baml playground FUNCTION`` and ``Fn.playground()``: a playground of a bound function."""

from __future__ import annotations

import argparse
from typing import Any

from baml_magic._errors import BamlFunctionNotFound
from baml_magic.notebook._host import Host
from baml_magic.notebook._playground import Playground


def open_playground(host: Host, name: str, stop_when: Any = None) -> Playground:
    """A playground of a bound function (``%baml playground FN``, ``Fn.playground()``); ``stop_when`` ends each
    run early, as a call's (``"checks"`` ticks its box)."""
    if name not in host.bound:
        raise BamlFunctionNotFound(f"no bound function {name}; bound: {', '.join(sorted(host.bound)) or 'none'}")
    return Playground(name, host.session, host.binder.get, stop_when=stop_when)


def playground_command(host: Host, options: argparse.Namespace) -> Playground:
    """``%baml playground FUNCTION``."""
    return open_playground(host, options.function, options.stop_when)
