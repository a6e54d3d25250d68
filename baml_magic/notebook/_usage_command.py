"""``%baml usage``: this session's calls per function (tokens, latency, first token, cost)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from baml_magic._render import Table
from baml_magic.observe import USAGE_HEADERS, usage_rows

if TYPE_CHECKING:
    from baml_magic.notebook._host import Host


def usage_command(host: Host, options: argparse.Namespace) -> Table:
    """The ledger's rows, with its estimates and price notes under them."""
    ledger = host.session.ledger
    notes = [*(f"~ estimated: {hint}" for hint in ledger.hints), *ledger.price_notes()]
    return Table(USAGE_HEADERS, usage_rows(ledger, host.session.runs), "baml-magic-usage", "no calls yet", notes)
