"""Terminal tables for lead scenarios: per-rep KPIs of an allocation, and the policy replay
side by side (best value per row in bold)."""

from __future__ import annotations

import math

from rich.table import Table

from territory_opt.kpi.evaluate import Evaluation
from territory_opt.text import fmt

LEAD_METRIC_ROWS: tuple[tuple[str, str, int, bool], ...] = (
    ("expected revenue", "expected_revenue", 0, False),
    ("expected wins", "expected_wins", 1, False),
    ("conversion rate (expected)", "conversion_rate", 4, False),
    ("avg deal size (expected)", "avg_deal_size", 0, False),
    ("leads routed", "routed", 0, False),
    ("leads not routed", "unrouted", 0, True),
    ("leads per FTE max/min", "leads_max_min", 2, True),
    ("leads per FTE CV", "leads_cv", 4, True),
    ("value per FTE max/min", "value_max_min", 2, True),
    ("value per FTE CV", "value_cv", 4, True),
    ("fairness max |dev| %", "fairness_max_abs_dev_pct", 1, True),
    ("capacity breaches (rep-periods)", "capacity_breaches", 0, True),
    ("response time mean (h)", "response_hours_mean", 2, True),
    ("response time p90 (h)", "response_hours_p90", 2, True),
)
"""(label, metric key, decimals, lower is better) of the lead KPIs, in display order."""

def rep_table(e: Evaluation, title: str) -> Table:
    """Per rep: leads, expected value and its deviation from the FTE-fair share, expected
    wins, capacity and the busiest period's use of it."""
    table = Table(title=title, title_justify="left")
    for column in ("rep", "fte", "leads", "expected value", "fair dev %", "expected wins",
                   "capacity", "peak period", "cap use %"):
        table.add_column(column, justify="left" if column == "rep" else "right")
    for rec in e.territories.to_dict(orient="records"):
        table.add_row(str(rec["territory"]), f"{rec['fte']:g}", str(rec["items"]),
                      fmt(rec["expected_value"], 0), f"{rec['fair_dev_pct']:+.1f}",
                      fmt(rec["expected_wins"], 1), fmt(float(rec["capacity"]), 0),
                      str(rec["peak_period_leads"]), fmt(rec["capacity_use_pct"], 1))
    return table


def side_by_side(columns: dict[str, dict[str, float]], title: str,
                 history: dict[str, float] | None = None) -> Table:
    """KPIs of several allocations (one column each), the best per row in bold; with
    ``history``, a last column of what the recorded outcomes say."""
    table = Table(title=title, title_justify="left")
    table.add_column("KPI")
    for name in columns:
        table.add_column(name, justify="right")
    if history:
        table.add_column("history (actual)", justify="right")
    for label, key, digits, lower_is_better in LEAD_METRIC_ROWS:
        values = [metrics.get(key, float("nan")) for metrics in columns.values()]
        if all(isinstance(v, float) and math.isnan(v) for v in values):
            continue
        finite = [v for v in values if math.isfinite(v)]
        best = (min(finite) if lower_is_better else max(finite)) if finite else None
        cells = [f"[bold]{fmt(v, digits)}[/]" if len(columns) > 1 and v == best
                 else fmt(v, digits) for v in values]
        if history:
            cells.append(fmt(history[key], digits) if key in history else "")
        table.add_row(label, *cells)
    if history:
        for key, label, digits in (("won_revenue", "revenue won", 0),
                                   ("sales_cycle_days", "sales cycle (days, won)", 1),
                                   ("closed_leads", "closed leads", 0)):
            if key in history:
                table.add_row(label, *[""] * len(columns), fmt(history[key], digits))
    return table
