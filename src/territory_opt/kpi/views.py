"""What presentation shows of a scenario, family-neutral: the KPIs, per-territory columns,
tolerance bands and (label, text) summary rows every family starts from.

:class:`CommonViews` implements :class:`territory_opt.family.Views` for a plain alignment; a
family's own ``views.py`` subclasses it and adds or replaces what only it has (named accounts,
contiguity, lead KPIs). The families never import each other: they share this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from territory_opt.family import Band, Markers, Words
from territory_opt.kpi.metrics import column
from territory_opt.scenario.distance_units import max_distance_key, scenario_travel_keys
from territory_opt.scenario.model import NO_TERRITORY
from territory_opt.scenario.pair_table import distance_source_text
from territory_opt.text import fmt

if TYPE_CHECKING:
    from territory_opt.kpi.evaluate import Evaluation
    from territory_opt.scenario.model import Scenario


def percent(share: float) -> str:
    """A share (0.1) as a percentage text (``10%``)."""
    return f"{100 * share:g}%"


def column_title(key: str, words: Words | None = None,
                 scenario: Scenario | None = None) -> str:
    """A per-territory column's title: the registry's label (:func:`~territory_opt.kpi.
    metrics.column`), with the family's words for its territories and items, and the quota
    basis by name when the scenario is known."""
    quotas = scenario.spec.quotas if scenario is not None else None
    if key == "quota_to_basis_pct" and quotas is not None:
        return f"quota % of {quotas.basis}"
    if words is not None and key == "territory":
        return words.territory
    if words is not None and key == "items":
        return words.items
    return column(key).label


def balance_bands(scenario: Scenario) -> dict[str, Band]:
    """Each balance rule's band on ``<attribute>_dev_pct``; two rules on one attribute give the
    tighter band (the one a plan breaks first)."""
    out: dict[str, Band] = {}
    for rule in scenario.spec.rules.balance:
        if rule.level is not None:  # a band on parents, not on each territory
            continue
        column = f"{rule.attribute}_dev_pct"
        band = Band(rule.attribute, 100 * rule.tolerance, rule.hard)
        old = out.get(column)
        if old is None or band.tolerance_pct < old.tolerance_pct:
            out[column] = band
    return out


def level_balance_bands(scenario: Scenario, level: str) -> dict[str, Band]:
    """The bands of the balance rules on the parents at ``level`` (``rules.balance[].level``),
    on the level table's ``<attribute>_dev_pct``; the tighter of two on one attribute."""
    out: dict[str, Band] = {}
    for rule in scenario.spec.rules.balance:
        if rule.level != level:
            continue
        column = f"{rule.attribute}_dev_pct"
        band = Band(rule.attribute, 100 * rule.tolerance, rule.hard)
        old = out.get(column)
        if old is None or band.tolerance_pct < old.tolerance_pct:
            out[column] = band
    return out


def balanced_attributes(scenario: Scenario) -> list[str]:
    """The attributes a balance rule names, else all of them (what the territory table shows)."""
    return [r.attribute for r in scenario.spec.rules.balance] or list(scenario.attributes)


def objective_text(scenario: Scenario) -> str:
    """The objective in words: its weighted terms."""
    objective = scenario.spec.objective
    travel = f"travel × {objective.travel.weight:g}"
    if objective.travel.attribute:
        travel += f" (per {objective.travel.attribute})"
    terms = [travel]
    if objective.disruption.weight:
        terms.append(f"disruption × {objective.disruption.weight:g} per moved "
                     f"{objective.disruption.per}")
    if objective.dispersion is not None:
        terms.append(f"dispersion × {objective.dispersion.weight:g}")
    if objective.cut_edges is not None:
        terms.append(f"cut edges × {objective.cut_edges.weight:g}")
    if any(not r.hard for r in scenario.spec.rules.balance):
        terms.append("penalties of the soft balance rules")
    return " + ".join(terms)


class CommonViews:
    """The views of a plain alignment; families override the methods where they differ.

    Hooks for subclasses: :meth:`size_text`, :meth:`attribute_total`, :meth:`extra_locks`,
    :meth:`extra_rules` and :meth:`objective` (the rows of :meth:`describe`).
    """

    words = Words()

    # --- plan-level KPIs ----------------------------------------------------------------------

    def metric_keys(self, scenario: Scenario) -> list[str]:
        """Objective, travel, balance, disruption, quotas, geography, unassigned, violations."""
        return ["objective", *self.balance_keys(scenario), *self.extra_metric_keys(scenario),
                *self.quota_keys(scenario), *self.geography_keys(scenario),
                "unassigned", "hard_violations"]

    def balance_keys(self, scenario: Scenario) -> list[str]:
        """Travel (with homes), balance per attribute, and disruption (with a current
        alignment)."""
        keys = []
        if scenario.has_distance.any():  # districting by count has no homes, so no travel
            keys += ["travel", scenario_travel_keys(scenario.spec)[0]]
        if scenario.spec.pairs is not None:
            keys.append("pairs_completed")
        for name in scenario.attributes:
            keys += [f"{name}_max_abs_dev_pct", f"{name}_cv", f"{name}_gini"]
        if scenario.has_current:
            keys += ["moved_items", *(f"moved_share_{n}" for n in scenario.attributes)]
        return keys

    def extra_metric_keys(self, scenario: Scenario) -> list[str]:
        """KPIs a family adds after disruption (none here)."""
        return []

    def quota_keys(self, scenario: Scenario) -> list[str]:
        """The quota KPIs, when the scenario sets quotas."""
        if scenario.spec.quotas is None:
            return []
        return ["quota_total", "quota_to_basis_min_pct", "quota_to_basis_max_pct",
                "quota_at_floor", "quota_at_cap"]

    def geography_keys(self, scenario: Scenario) -> list[str]:
        """Shape KPIs, when the scenario has adjacency or geometry."""
        if scenario.adjacency is None and scenario.geometry is None:
            return []
        return ["cut_edges", "disconnected_territories", "polsby_popper_mean",
                "polsby_popper_min"]

    # --- per-territory columns ----------------------------------------------------------------

    def territory_columns(self, scenario: Scenario, evaluation: Evaluation) -> list[str]:
        """Territory, FTE, items, loads with deviations, travel, capacity use, quotas, shape."""
        t = evaluation.territories
        columns = ["territory", "fte", "items"]
        if "accounts" in t:
            columns.append("accounts")
        for name in balanced_attributes(scenario):
            columns += [name, f"{name}_dev_pct"]
        if scenario.has_distance.any():
            columns += ["travel", *scenario_travel_keys(scenario.spec)]
        columns += [f"{name}_capacity_use_pct" for name in scenario.capacity]
        if "quota" in t:
            columns += ["quota", "quota_to_basis_pct"]
        if "components" in t:
            columns += ["components", "polsby_popper", "hull_ratio", "dispersion_km"]
        return [c for c in columns if c in t]

    def bands(self, scenario: Scenario) -> dict[str, Band]:
        """The balance rules' bands."""
        return balance_bands(scenario)

    # --- the scenario in words ----------------------------------------------------------------

    def size_text(self, scenario: Scenario) -> str:
        """How many items (and what else) the scenario has."""
        return f"{scenario.n_items:,}"

    def attribute_total(self, scenario: Scenario, name: str) -> float:
        """The total of one attribute over everything the scenario aligns."""
        return float(scenario.attributes[name].sum())

    def extra_locks(self, scenario: Scenario) -> int:
        """Locks beyond the items' own (none here)."""
        return 0

    def extra_rules(self, scenario: Scenario) -> list[tuple[str, str]]:
        """Rows of rules only a family has (none here)."""
        return []

    def objective(self, scenario: Scenario) -> str:
        """The objective in words."""
        return objective_text(scenario)

    def describe(self, scenario: Scenario) -> list[tuple[str, str]]:
        """Size, attributes, rules and objective as (label, text) rows."""
        s, rules = scenario, scenario.spec.rules
        words = self.words
        pairs = [(words.items, self.size_text(s)),
                 (words.territories, f"{s.n_territories:,} ({fmt(float(s.fte.sum()), 2)} FTE)")]
        totals = [f"{name} {fmt(self.attribute_total(s, name), 1)}" for name in s.attributes]
        pairs.append(("attributes (totals)", "; ".join(totals) or "none"))
        if s.tags:
            pairs.append(("tags", ", ".join(s.tags)))
        pairs.append(("current alignment", "yes" if s.has_current else "no"))
        balance = [f"{r.attribute} ±{percent(r.tolerance)} "
                   + (f"per {r.level} " if r.level else "")
                   + ("(hard)" if r.hard else f"(soft, penalty {r.penalty:g})")
                   for r in rules.balance]
        pairs.append(("balance", "; ".join(balance) or "none"))
        locks = int(np.sum(s.lock != NO_TERRITORY)) + self.extra_locks(s)
        pairs.append(("locks", f"{locks:,}"))
        pairs.append(("eligibility", ", ".join(rules.eligibility) or "none"))
        if s.max_distance is not None:
            pairs.append(("max distance", f"{fmt(s.max_distance, 1)} {s.distance_unit} "
                          f"(rules.{max_distance_key(s.spec)})"))
        cap = rules.disruption
        pairs.append(("disruption cap", "none" if cap is None
                      else f"at most {percent(cap.max_share)} of {cap.attribute} moves"))
        if s.capacity:
            pairs.append(("capacities", ", ".join(s.capacity)))
        pairs += self.extra_rules(s)
        if s.spec.pairs is not None:
            listed = f"{len(s.pair_keys):,} listed pairs"
            pairs.append(("pair table", listed + (" (only these allowed)" if s.only_listed
                                                  else "")))
            pairs.append(("distances", distance_source_text(s) or ""))
        pairs.append(("objective", self.objective(s)))
        if s.spec.quotas is not None:
            q = s.spec.quotas
            bounds = [f"floor {percent(q.floor)}" if q.floor is not None else "",
                      f"cap {percent(q.cap)}" if q.cap is not None else ""]
            pairs.append(("quotas", f"target {fmt(q.target, 0)} split by {q.basis} share"
                          + (f", {percent(q.fte_weight)} by FTE" if q.fte_weight else "")
                          + "".join(f", {b}" for b in bounds if b)
                          + " of the FTE-fair quota"))
        return pairs

    def counts(self, scenario: Scenario) -> dict[str, int]:
        """Nothing beside the items and territories."""
        return {}

    # --- maps ---------------------------------------------------------------------------------

    def map_note(self, scenario: Scenario) -> str | None:
        """None: an alignment can be drawn wherever its items have coordinates."""
        return None

    def markers(self, scenario: Scenario, assignment: np.ndarray) -> Markers | None:
        """No points beyond the items."""
        return None
