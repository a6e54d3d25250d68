"""``%baml trace``: switch OpenTelemetry spans on or off, send what was recorded, say where spans go."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from baml_magic._render import Table
from baml_magic.observe import TracingUnavailable

if TYPE_CHECKING:
    from baml_magic.notebook._host import Host


def trace_command(host: Host, options: argparse.Namespace) -> Table | str:
    """``host``: the ``BamlMagic`` whose ``trace`` traitlet the command sets."""
    tracing = host.session.tracing
    if options.action in ("on", "off"):
        if options.content is not None:
            tracing.content = options.content
        if options.action == "on":
            try:
                tracing.start()
            except TracingUnavailable as exc:
                raise UsageError(str(exc)) from None
        host.trace = options.action == "on"
    elif options.action == "flush":
        flushed: str = tracing.flush()
        return flushed
    return Table(["", ""], tracing.describe(), "baml-magic-trace", "")
