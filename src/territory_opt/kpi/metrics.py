"""The one registry of how a KPI is shown: label, unit, decimals and which way is better.

Terminal tables, notebook HTML, the report and the map pop-ups all read it, so a KPI has the
same label and the same number of decimals everywhere. :func:`metric` describes the plan-level
KPIs (keys of ``Evaluation.metrics``, objective terms, replay KPIs); :func:`column` the
per-territory columns (of ``Evaluation.territories``). Keys built from an attribute name
(``workload_max_abs_dev_pct``, ``moved_share_visits``, ``visits_capacity_use_pct`` …) are
resolved by pattern.

One rule for decimals: counts and money 0; kilometres, hours of travel and the objective 1;
every percentage (``*_pct``) 1; ratios such as max/min 2; shape scores 3; coefficients of
variation, Gini, shares and rates 4. A key the registry does not know keeps its own name as
label and gets decimals by the magnitude of its values (:func:`magnitude_digits`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Metric:
    """How one KPI or column is shown.

    Attributes
    ----------
    key
        Its key in ``Evaluation.metrics`` or a territory table column.
    label
        What tables call it.
    unit
        Its unit ("%", "km", "mi", "min", "h", "" for a count or a score).
    digits
        Decimals; None for "by the magnitude of the values" (a key the registry does not
        know).
    lower_is_better
        Which way is better when plans are compared (bold in side-by-side tables).
    """

    key: str
    label: str
    unit: str = ""
    digits: int | None = 1
    lower_is_better: bool = True

    def digits_for(self, values: Iterable[float] | float) -> int:
        """The decimals to show ``values`` of this KPI with: :attr:`digits`, or by their
        magnitude when the registry does not fix them."""
        if self.digits is not None:
            return self.digits
        return magnitude_digits(values)


def magnitude_digits(values: Iterable[float] | float) -> int:
    """Decimals for numbers of no known kind: none for whole numbers and for thousands, one
    from 10, two from 1, four below (so 0.0123 does not show as 0.0)."""
    if isinstance(values, int | float | np.integer | np.floating):
        values = [float(values)]
    array = np.asarray([float(v) for v in values if _is_number(v)], dtype=float)
    finite = array[np.isfinite(array)]
    if not len(finite) or bool(np.all(finite == np.round(finite))):
        return 0
    top = float(np.abs(finite).max())
    return 0 if top >= 1_000 else 1 if top >= 10 else 2 if top >= 1 else 4


def _is_number(value: object) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _m(key: str, label: str, unit: str = "", digits: int | None = 1,
       lower_is_better: bool = True) -> Metric:
    return Metric(key, label, unit, digits, lower_is_better)


COUNT, MONEY = 0, 0

METRICS: dict[str, Metric] = {m.key: m for m in (
    # the plan as a whole
    _m("objective", "objective"),
    _m("items", "items", digits=COUNT),
    _m("unassigned", "unassigned", digits=COUNT),
    _m("hard_violations", "hard violations", digits=COUNT),
    _m("travel", "travel"),
    _m("km_mean", "mean km to home", "km"),
    _m("mi_mean", "mean miles to home", "mi"),
    _m("min_mean", "mean minutes to home", "min"),
    _m("pairs_completed", "pairs completed (no listed distance)", digits=COUNT),
    _m("moved_items", "moved items", digits=COUNT),
    _m("moved_share_items", "moved share items", digits=4),
    # objective terms
    _m("disruption", "disruption"),
    _m("balance_penalty", "balance penalty"),
    _m("dispersion", "dispersion"),
    _m("revenue", "revenue"),
    # named accounts (districting)
    _m("accounts", "accounts", digits=COUNT),
    _m("accounts_locked_away", "accounts locked away from their unit", digits=COUNT),
    _m("moved_accounts", "moved accounts", digits=COUNT),
    # quotas
    _m("quota_total", "quota total", digits=MONEY),
    _m("quota_to_basis_min_pct", "quota % of basis, min", "%", lower_is_better=False),
    _m("quota_to_basis_max_pct", "quota % of basis, max", "%"),
    _m("quota_at_floor", "quotas at floor", digits=COUNT),
    _m("quota_at_cap", "quotas at cap", digits=COUNT),
    # geography
    _m("cut_edges", "cut edges", digits=COUNT),
    _m("disconnected_territories", "disconnected territories", digits=COUNT),
    _m("polsby_popper_mean", "Polsby-Popper mean", digits=3, lower_is_better=False),
    _m("polsby_popper_min", "Polsby-Popper min", digits=3, lower_is_better=False),
    _m("dispersion_total_km", "dispersion total km", "km"),
    # leads
    _m("leads", "leads", digits=COUNT),
    _m("expected_revenue", "expected revenue", digits=MONEY, lower_is_better=False),
    _m("expected_wins", "expected wins", lower_is_better=False),
    _m("conversion_rate", "conversion rate (expected)", digits=4, lower_is_better=False),
    _m("avg_deal_size", "avg deal size (expected)", digits=MONEY, lower_is_better=False),
    _m("routed", "leads routed", digits=COUNT, lower_is_better=False),
    _m("unrouted", "leads not routed", digits=COUNT),
    _m("leads_max_min", "leads per FTE max/min", digits=2),
    _m("leads_cv", "leads per FTE CV", digits=4),
    _m("value_max_min", "value per FTE max/min", digits=2),
    _m("value_cv", "value per FTE CV", digits=4),
    _m("fairness_max_abs_dev_pct", "fairness max |dev| %", "%"),
    _m("capacity_breaches", "capacity breaches (rep-periods)", digits=COUNT),
    _m("capacity_excess_leads", "leads beyond capacity", digits=COUNT),
    _m("response_hours_mean", "response time mean (h)", "h", digits=2),
    _m("response_hours_p90", "response time p90 (h)", "h", digits=2),
    _m("won_revenue", "revenue won", digits=MONEY, lower_is_better=False),
    _m("sales_cycle_days", "sales cycle (days, won)", "days"),
    _m("closed_leads", "closed leads", digits=COUNT),
)}
"""Plan-level KPIs by key."""

COLUMNS: dict[str, Metric] = {m.key: m for m in (
    _m("territory", "territory", digits=None),
    _m("name", "name", digits=None),
    _m("fte", "fte", digits=None),
    _m("items", "items", digits=COUNT),
    _m("accounts", "accounts", digits=COUNT),
    _m("travel", "travel"),
    _m("km_mean", "km mean", "km"),
    _m("km_max", "km max", "km"),
    _m("mi_mean", "miles mean", "mi"),
    _m("mi_max", "miles max", "mi"),
    _m("min_mean", "minutes mean", "min"),
    _m("min_max", "minutes max", "min"),
    _m("quota", "quota", digits=MONEY),
    _m("quota_share_pct", "quota share %", "%"),
    _m("quota_per_fte", "quota per FTE", digits=MONEY),
    _m("quota_to_basis_pct", "quota % of basis", "%"),
    _m("quota_bound", "quota bound", digits=None),
    _m("components", "pieces", digits=COUNT),
    _m("polsby_popper", "Polsby-Popper", digits=3, lower_is_better=False),
    _m("hull_ratio", "hull ratio", digits=3, lower_is_better=False),
    _m("dispersion_km", "dispersion km", "km"),
    _m("area_km2", "area km²", "km²"),
    _m("perimeter_km", "perimeter km", "km"),
    _m("parts", "parts", digits=COUNT),
    _m("value", "value", digits=MONEY),
    _m("expected_value", "expected value", digits=MONEY, lower_is_better=False),
    _m("fair_target", "fair target", digits=MONEY),
    _m("fair_dev_pct", "fair dev %", "%"),
    _m("expected_wins", "expected wins", lower_is_better=False),
    _m("capacity", "capacity", digits=COUNT),
    _m("peak_period_leads", "peak period", digits=COUNT),
    _m("capacity_use_pct", "cap use %", "%"),
    _m("lat", "lat", digits=4), _m("lon", "lon", digits=4),
    _m("home_lat", "home lat", digits=4), _m("home_lon", "home lon", digits=4),
)}
"""Per-territory columns by key (and the coordinates of the items and scenario tables)."""

_PATTERNS: tuple[tuple[re.Pattern[str], str, str, int | None, bool], ...] = tuple(
    (re.compile(pattern), label, unit, digits, lower)
    for pattern, label, unit, digits, lower in (
        (r"^moved_share_(?P<a>.+)$", "moved share {a}", "", 4, True),
        (r"^(?P<a>.+)_max_abs_dev_pct$", "{a} max |dev| %", "%", 1, True),
        (r"^(?P<a>.+)_capacity_use_pct$", "{a} cap %", "%", 1, True),
        (r"^(?P<a>.+)_dev_pct$", "{a} dev %", "%", 1, True),
        (r"^(?P<a>.+)_cv$", "{a} CV", "", 4, True),
        (r"^(?P<a>.+)_gini$", "{a} Gini", "", 4, True),
        (r"^(?P<a>.+)_target$", "{a} target", "", None, True),
        (r"^(?P<a>.+)_capacity$", "{a} capacity", "", None, True),
        (r"^(?P<a>.+)_pct$", "{a} %", "%", 1, True),
    ))
"""Keys built from an attribute name: (pattern, label, unit, decimals, lower is better)."""


def _resolve(key: str, known: dict[str, Metric]) -> Metric:
    if key in known:
        return known[key]
    for pattern, label, unit, digits, lower in _PATTERNS:
        match = pattern.match(key)
        if match:
            return Metric(key, label.format(a=match["a"]), unit, digits, lower)
    return Metric(key, key, "", None, True)


def metric(key: str) -> Metric:
    """How the plan-level KPI ``key`` is shown (a KPI of no known kind: its key as label,
    decimals by magnitude)."""
    return _resolve(key, METRICS)


def column(key: str) -> Metric:
    """How the per-territory column ``key`` is shown (an attribute's load: its name as label,
    decimals by magnitude); a column named like a plan-level KPI is described as that KPI."""
    if key in COLUMNS:
        return COLUMNS[key]
    found = _resolve(key, METRICS)
    return replace(found, label=key) if found.label == key else found


def best(values: Iterable[float], lower_is_better: bool) -> float | None:
    """The best finite value (None without any)."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return None
    return min(finite) if lower_is_better else max(finite)
