"""``%baml trace``: switch OpenTelemetry spans on or off, send what was recorded, say where spans go."""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError

from baml_magic._render import Table
from baml_magic.observe import TracingUnavailable


def trace_command(magic: Any, options: argparse.Namespace) -> Table | str:
    """``magic``: the ``BamlMagic`` whose ``trace`` traitlet the command sets."""
    tracing = magic.session.tracing
    if options.action in ("on", "off"):
        if options.content is not None:
            tracing.content = options.content
        if options.action == "on":
            try:
                tracing.start()
            except TracingUnavailable as exc:
                raise UsageError(str(exc)) from None
        magic.trace = options.action == "on"
    elif options.action == "flush":
        flushed: str = tracing.flush()
        return flushed
    return Table(["", ""], tracing.describe(), "baml-magic-trace", "")
