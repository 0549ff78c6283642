"""The unit of a scenario's distances (``pairs.unit``: km, mi or min) and the rule that completes
pairs missing from the pair table (``pairs.complete``).

Every distance the scenario gives (:meth:`Scenario.distance`) is in this unit: listed pairs as
the table says, the others great-circle km × :func:`completion_factor`. So the objective, the
KPIs, ``rules.max_distance`` and the reports all speak the table's unit. Without a pair table
the unit is km and nothing changes.
"""

from __future__ import annotations

import math

from territory_opt.scenario.schema import ScenarioSpec

KM_PER_MILE = 1.609344
"""Kilometres in a statute mile."""

UNIT_WORDS = {"km": "km", "mi": "miles", "min": "minutes"}
"""How labels name each unit."""


def distance_unit(spec: ScenarioSpec) -> str:
    """``km``, ``mi`` or ``min``: the pair table's unit, else km."""
    return spec.pairs.unit if spec.pairs is not None else "km"


def completion_factor(spec: ScenarioSpec) -> float:
    """Great-circle km -> the scenario's unit for a pair the table does not list.

    ``pairs.complete`` gives detour (and speed, for minutes); a km scenario without it keeps
    plain great-circle km (factor 1). A mi or min table without ``complete`` has no rule: NaN
    (loading refuses such a table when it leaves out a pair that needs a distance).
    """
    p = spec.pairs
    unit = distance_unit(spec)
    c = p.complete if p is not None else None
    if c is None:
        return 1.0 if unit == "km" else math.nan
    if unit == "mi":
        return c.detour / KM_PER_MILE
    if unit == "min":
        assert c.speed_kmh is not None  # the schema requires it for minutes
        return c.detour / c.speed_kmh * 60.0
    return c.detour


def completion_text(spec: ScenarioSpec) -> str:
    """The completion rule in words: "great-circle km × 1.3 at 50 km/h" (and so on)."""
    p = spec.pairs
    c = p.complete if p is not None else None
    if c is None:
        return "great-circle km" if distance_unit(spec) == "km" else "none"
    text = "great-circle km" + (f" × {c.detour:g}" if c.detour != 1 else "")
    if distance_unit(spec) == "min" and c.speed_kmh is not None:
        text += f" at {c.speed_kmh:g} km/h"
    elif distance_unit(spec) == "mi":
        text += " in miles"
    return text


def max_distance(spec: ScenarioSpec) -> float | None:
    """``rules.max_distance`` (or its deprecated km alias ``max_distance_km``), in the unit."""
    rules = spec.rules
    return rules.max_distance if rules.max_distance is not None else rules.max_distance_km


def max_distance_key(spec: ScenarioSpec) -> str:
    """The YAML key the scenario's distance limit came from (for messages)."""
    return "max_distance_km" if spec.rules.max_distance_km is not None else "max_distance"


def travel_keys(unit: str) -> tuple[str, str]:
    """The mean and max distance KPI keys in ``unit``: ``km_mean``/``km_max``,
    ``mi_mean``/``mi_max`` or ``min_mean``/``min_max``."""
    return f"{unit}_mean", f"{unit}_max"


def scenario_travel_keys(spec: ScenarioSpec) -> tuple[str, str]:
    """:func:`travel_keys` of the scenario's unit."""
    return travel_keys(distance_unit(spec))


def distance_text(value: float, unit: str, digits: int = 1) -> str:
    """``12.3 km``, ``4.0 mi``, ``35.5 min``."""
    return f"{value:,.{digits}f} {unit}"
