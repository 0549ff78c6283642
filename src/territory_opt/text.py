"""Values as messages and terminal tables show them."""

from __future__ import annotations

import math
import reprlib
from typing import Any


def fmt(value: float | None, digits: int = 1) -> str:
    """Thousands separators and ``digits`` decimals; ``n/a`` for NaN or None, ∞ and −∞ for the
    infinities (a missing bound is −∞, not ∞)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:,.{digits}f}"


def _bounded_repr() -> reprlib.Repr:
    shown = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
    shown.maxlevel, shown.maxdict, shown.maxlist, shown.maxtuple = 2, 4, 4, 4
    shown.maxset, shown.maxstring, shown.maxlong, shown.maxother = 4, 50, 40, 50
    return shown


_BOUNDED = _bounded_repr()


def bounded_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` in at most ``limit`` characters, without rendering it whole: a value
    quoted in a message may be huge, deeply nested, or share its parts through YAML aliases,
    and a plain ``repr`` of it could take minutes."""
    text = _BOUNDED.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
