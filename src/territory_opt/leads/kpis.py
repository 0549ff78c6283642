"""KPIs of a lead allocation: expected revenue, load balance across reps, capacity per period
and fairness — pure functions of (scenario, assignment), like the alignment KPIs.

A lead's rep is ``assignment[i]`` (:data:`NO_TERRITORY`: not routed). Expected values use the
scenario's win probabilities (:class:`~territory_opt.scenario.leads.LeadData`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from territory_opt.kpi.evaluate import (
    Evaluation,
    ObjectiveTerms,
    Violation,
    rule_violations,
)
from territory_opt.scenario.leads import LeadData, period_start
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.tolerance import RULE_TOLERANCE, band_slack


def lead_data(scenario: Scenario) -> LeadData:
    """The scenario's lead data (a ``model: leads`` scenario has it)."""
    if scenario.leads is None:
        raise ValueError(f"scenario '{scenario.name}' is not a model: leads scenario")
    return scenario.leads


def expected_per_lead(scenario: Scenario, assignment: np.ndarray) -> np.ndarray:
    """Expected value of each lead with its rep (0 when not routed)."""
    return _per_lead(scenario, assignment, lead_data(scenario).expected_value)


def win_probability_per_lead(scenario: Scenario, assignment: np.ndarray) -> np.ndarray:
    """Win probability of each lead with its rep (0 when not routed)."""
    return _per_lead(scenario, assignment, lead_data(scenario).win_probability)


def _per_lead(scenario: Scenario, assignment: np.ndarray,
              measure: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """``measure(lead, rep)`` of each routed lead; 0 for the others."""
    routed = np.flatnonzero(assignment != NO_TERRITORY)
    out = np.zeros(scenario.n_items)
    out[routed] = measure(routed, assignment[routed])
    return out


def fair_targets(scenario: Scenario, expected_by_rep: np.ndarray) -> np.ndarray:
    """Each rep's FTE share of the total expected value: ``total × fte / Σ fte``."""
    return float(expected_by_rep.sum()) * scenario.fte / float(scenario.fte.sum())


def fairness_excess(scenario: Scenario, expected_by_rep: np.ndarray, tolerance: float
                    ) -> np.ndarray:
    """Expected value outside ``[(1-τ), (1+τ)] × fair target`` per rep (>= 0)."""
    target = fair_targets(scenario, expected_by_rep)
    return np.asarray(np.maximum((1 - tolerance) * target - expected_by_rep, 0)
                      + np.maximum(expected_by_rep - (1 + tolerance) * target, 0))


def period_loads(scenario: Scenario, assignment: np.ndarray,
                 routed_at: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leads per (capacity period, rep): the periods, the reps and the counts, for every pair
    that received at least one lead. A lead counts in the period it was routed in
    (``routed_at``; default: when it was created)."""
    data = lead_data(scenario)
    routed = np.flatnonzero(assignment != NO_TERRITORY)
    times = data.created if routed_at is None else routed_at
    period = data.period_of(times[routed])
    m = scenario.n_territories
    keys, counts = np.unique(period * m + assignment[routed], return_counts=True)
    return keys // m, keys % m, counts


def evaluate_leads(scenario: Scenario, assignment: np.ndarray,
                   routed_at: np.ndarray | None = None) -> Evaluation:
    """KPIs, violations and objective of a lead allocation (module docstring); capacity is
    counted per period of ``routed_at`` (default: of creation)."""
    data = lead_data(scenario)
    m = scenario.n_territories
    assigned = assignment != NO_TERRITORY
    expected = expected_per_lead(scenario, assignment)
    wins = win_probability_per_lead(scenario, assignment)
    rep = assignment[assigned]
    leads = np.bincount(rep, minlength=m)
    expected_by_rep = np.bincount(rep, weights=expected[assigned], minlength=m)
    target = fair_targets(scenario, expected_by_rep)
    periods, reps, counts = period_loads(scenario, assignment, routed_at)
    peak = np.zeros(m, dtype=np.int64)
    np.maximum.at(peak, reps, counts)
    table = pd.DataFrame({
        "territory": scenario.territory_ids, "name": scenario.territory_names,
        "fte": scenario.fte, "items": leads,
        "value": np.bincount(rep, weights=data.value[assigned], minlength=m),
        "expected_value": expected_by_rep,
        "expected_wins": np.bincount(rep, weights=wins[assigned], minlength=m),
        "fair_target": target,
        "capacity": data.capacity, "peak_period_leads": peak,
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        table["fair_dev_pct"] = np.where(target > 0, 100 * (expected_by_rep / target - 1), 0.0)
        table["capacity_use_pct"] = np.where(np.isfinite(data.capacity) & (data.capacity > 0),
                                             100 * peak / data.capacity, np.nan)

    violations = rule_violations(scenario, assignment, assigned, table)
    over = counts > data.capacity[reps] * (1 + RULE_TOLERANCE)
    for p, k, count in zip(periods[over], reps[over], counts[over], strict=True):
        violations.append(Violation(
            f"capacity per {data.period}", f"rep {scenario.territory_ids[k]}",
            float(count - data.capacity[k]),
            f"{count} leads in the {data.period} starting {period_start(data.period, p)}; "
            f"capacity "
            f"{data.capacity[k]:g}"))
    fairness = scenario.spec.leads.fairness if scenario.spec.leads is not None else None
    penalty = 0.0
    if fairness is not None:
        excess = fairness_excess(scenario, expected_by_rep, fairness.tolerance)
        slack = band_slack(target)
        for k in np.flatnonzero(excess > slack):
            violations.append(Violation(
                f"fairness ±{fairness.tolerance * 100:g}%", f"rep {scenario.territory_ids[k]}",
                float(excess[k]), f"expected value {expected_by_rep[k]:,.0f} is outside "
                f"[{(1 - fairness.tolerance) * target[k]:,.0f}, "
                f"{(1 + fairness.tolerance) * target[k]:,.0f}]", hard=fairness.hard))
        if not fairness.hard:
            penalty = fairness.penalty * float(excess.sum())
    terms = ObjectiveTerms(0.0, 0.0, penalty, revenue=-float(expected.sum()))
    metrics = lead_metrics(scenario, assignment, table)
    if fairness is not None:
        metrics["fairness_max_abs_dev_pct"] = float(np.abs(table["fair_dev_pct"]).max())
    metrics["capacity_breaches"] = float(over.sum())
    metrics["capacity_excess_leads"] = float(np.maximum(
        counts - data.capacity[reps], 0)[over].sum())
    metrics["objective"] = terms.total
    metrics["hard_violations"] = float(sum(v.hard for v in violations))
    return Evaluation(table, metrics, violations, terms)


def lead_metrics(scenario: Scenario, assignment: np.ndarray, table: pd.DataFrame
                 ) -> dict[str, float]:
    """Plan-level lead KPIs: routed, expected revenue and wins, conversion, deal size, and
    the balance of lead count and expected value per FTE across reps (max/min and CV)."""
    routed = int((assignment != NO_TERRITORY).sum())
    revenue = float(table["expected_value"].sum())
    wins = float(table["expected_wins"].sum())
    out = {"leads": float(scenario.n_items), "routed": float(routed),
           "unrouted": float(scenario.n_items - routed),
           "expected_revenue": revenue, "expected_wins": wins,
           "conversion_rate": wins / routed if routed else float("nan"),
           "avg_deal_size": revenue / wins if wins > 0 else float("nan")}
    for label, column in (("leads", "items"), ("value", "expected_value")):
        per_fte = table[column].to_numpy(dtype=float) / scenario.fte
        low, high, mean = per_fte.min(), per_fte.max(), per_fte.mean()
        out[f"{label}_max_min"] = float(high / low) if low > 0 else float("inf")
        out[f"{label}_cv"] = float(per_fte.std() / mean) if mean > 0 else 0.0
    return out
