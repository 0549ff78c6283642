"""Numbers as the terminal tables show them."""

from __future__ import annotations

import math


def fmt(value: float | None, digits: int = 1) -> str:
    """Thousands separators and ``digits`` decimals; ``n/a`` for NaN or None, ∞ and −∞ for the
    infinities (a missing bound is −∞, not ∞)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:,.{digits}f}"
