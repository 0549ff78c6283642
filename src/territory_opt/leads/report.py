"""The lead KPIs presentation shows, in order; labels and decimals are in the metric registry
(:mod:`territory_opt.kpi.metrics`), the tables in :mod:`territory_opt.present.terminal`."""

from __future__ import annotations

LEAD_METRICS: tuple[str, ...] = (
    "expected_revenue", "expected_wins", "conversion_rate", "avg_deal_size", "routed",
    "unrouted", "leads_max_min", "leads_cv", "value_max_min", "value_cv",
    "fairness_max_abs_dev_pct", "capacity_breaches", "response_hours_mean",
    "response_hours_p90",
)
"""Keys of the lead KPIs (of an allocation or a replay), in display order."""

ALLOCATION_METRICS: tuple[str, ...] = tuple(
    key for key in LEAD_METRICS if not key.startswith("response"))
"""The lead KPIs of one allocation: response times belong to a replay (``territory-opt
route``), not to one allocation."""

HISTORY_METRICS: tuple[str, ...] = ("won_revenue", "sales_cycle_days", "closed_leads")
"""What only the recorded outcomes say (the replay's history column)."""

REP_COLUMNS: tuple[str, ...] = (
    "territory", "fte", "items", "expected_value", "fair_dev_pct", "expected_wins", "capacity",
    "peak_period_leads", "capacity_use_pct",
)
"""Per rep: leads, expected value and its deviation from the FTE-fair share, expected wins,
capacity and the busiest period's use of it."""
