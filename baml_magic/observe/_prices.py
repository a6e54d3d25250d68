"""What tokens cost: a small table of list prices per million tokens, overridable per model.

The built-in figures are the providers' published prices for standard (not batch, not cached)
input and output tokens as of ``PRICES_DATE``; they age, so ``%config BamlMagic.prices`` overrides or
adds models. A model that matches nothing has no cost: views then show tokens only, never a guess.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from baml_magic._types import Usage

PRICES_DATE = "2025-08"
Price = tuple[float, float]  # US dollars per million input tokens, per million output tokens

PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": (1.25, 10.00), "gpt-5-mini": (0.25, 2.00), "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00), "gpt-4o-mini": (0.15, 0.60), "o3": (2.00, 8.00), "o4-mini": (1.10, 4.40),
    # Anthropic
    "claude-opus-4": (15.00, 75.00), "claude-sonnet-4": (3.00, 15.00), "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00), "claude-3-5-haiku": (0.80, 4.00), "claude-3-haiku": (0.25, 1.25),
    # Google
    "gemini-2.5-pro": (1.25, 10.00), "gemini-2.5-flash": (0.30, 2.50), "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
}


def price_for(model: str | None, overrides: Mapping[str, object] | None = None) -> Price | None:
    """The price of a model: an override first, then the table; a dated suffix matches its family
    (``gpt-4o-mini-2024-07-18`` is ``gpt-4o-mini``), the longest name that fits wins."""
    if not model:
        return None
    try:  # every call ends with this look-up: remembered per model and overrides
        return _price(model, tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in (overrides or {}).items()))
    except TypeError:  # an override that can't be a key is not a price either: say which
        return _look_up(model, overrides or {})


@functools.lru_cache(maxsize=256)
def _price(model: str, overrides: tuple[tuple[str, object], ...]) -> Price | None:
    return _look_up(model, dict(overrides))


def _look_up(model: str, overrides: Mapping[str, object]) -> Price | None:
    model = model.split("?", 1)[0].rsplit("/", 1)[-1].lower()
    for table in (checked_prices(overrides), PRICES):
        fits = [name for name in table if model == name or model.startswith(name + "-")]
        if fits:
            return table[max(fits, key=len)]
    return None


def checked_prices(overrides: Mapping[str, object]) -> dict[str, Price]:
    """Overrides as prices by lower-case model name; a ValueError naming the first bad one."""
    out = {}
    for name, value in overrides.items():
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value)):
            raise ValueError(f"BamlMagic.prices[{name!r}] must be (input, output) US dollars per million tokens, "
                             f"got {value!r:.60}")
        out[name.lower()] = (float(value[0]), float(value[1]))
    return out


def cost(usage: Usage, price: Price | None) -> float | None:
    """US dollars for these tokens at this price; None when the price or the tokens are unknown."""
    if price is None or (usage.input_tokens is None and usage.output_tokens is None):
        return None
    return ((usage.input_tokens or 0) * price[0] + (usage.output_tokens or 0) * price[1]) / 1_000_000
