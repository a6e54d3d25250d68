"""What calls leave behind for later: OpenTelemetry spans, the session's usage, what tokens cost."""

from __future__ import annotations

from baml_magic.observe._prices import Price, checked_prices, cost, price_for
from baml_magic.observe._trace import Tracing, TracingUnavailable
from baml_magic.observe._usage import HEADERS as USAGE_HEADERS
from baml_magic.observe._usage import Ledger
from baml_magic.observe._usage import rows as usage_rows

__all__ = ["USAGE_HEADERS", "Ledger", "Price", "Tracing", "TracingUnavailable", "checked_prices", "cost", "price_for",
           "usage_rows"]
