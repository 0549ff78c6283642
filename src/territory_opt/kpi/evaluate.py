"""KPI evaluator: pure functions of (scenario, assignment).

The same code judges every plan — a solver's, the current alignment, another tool's output — and
recomputes the objective from scratch, so no solver's claim is taken on trust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from territory_opt.family import family_of
from territory_opt.kpi.geography import evaluate_geography
from territory_opt.kpi.levels import crossing_cost, level_metrics, level_penalty, level_violations
from territory_opt.kpi.priorities import criterion_values
from territory_opt.kpi.quotas import quota_columns, quota_metrics
from territory_opt.rendering import to_html
from territory_opt.scenario.distance_units import max_distance_key, scenario_travel_keys
from territory_opt.scenario.groups import broken_groups
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.pair_table import pairs_completed
from territory_opt.tolerance import band_slack, capacity_limit, share_limit


@dataclass(frozen=True)
class Violation:
    """A rule a plan breaks: which rule, where, and by how much."""

    rule: str
    where: str
    amount: float
    message: str
    hard: bool = True

    def __str__(self) -> str:
        kind = "" if self.hard else " (soft)"
        return f"{self.rule}{kind}: {self.where}: {self.message}"


@dataclass(frozen=True)
class ObjectiveTerms:
    """The objective recomputed from the assignment, term by term (weights applied)."""

    travel: float
    disruption: float
    balance_penalty: float
    dispersion: float = 0.0  # districting
    cut_edges: float = 0.0  # districting
    revenue: float = 0.0  # leads: minus the expected revenue (the model maximises it)
    priorities: tuple[tuple[str, float], ...] = ()
    """``objective.priorities``: each criterion's value in order; the total is the last one's
    (:mod:`territory_opt.kpi.priorities`)."""

    def as_dict(self) -> dict[str, float]:
        """The terms by name; the districting and leads ones only when they count; under
        priorities, each criterion's value."""
        if self.priorities:
            return dict(self.priorities)
        out = {"travel": self.travel, "disruption": self.disruption,
               "balance_penalty": self.balance_penalty}
        out.update({name: value for name, value in (("dispersion", self.dispersion),
                                                    ("cut_edges", self.cut_edges),
                                                    ("revenue", self.revenue)) if value})
        return out

    @property
    def total(self) -> float:
        """Sum of the weighted terms; under priorities, the last criterion's value."""
        if self.priorities:
            return self.priorities[-1][1]
        return (self.travel + self.disruption + self.balance_penalty + self.dispersion
                + self.cut_edges + self.revenue)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """KPIs of one assignment: per-territory table, plan-level metrics, violations, objective."""

    territories: pd.DataFrame
    metrics: dict[str, float]
    violations: list[Violation] = field(default_factory=list)
    objective: ObjectiveTerms = ObjectiveTerms(0.0, 0.0, 0.0)

    @property
    def feasible(self) -> bool:
        """Whether every hard rule holds."""
        return not any(v.hard for v in self.violations)

    def metrics_frame(self) -> pd.DataFrame:
        """One-call DataFrame view of :attr:`metrics`: one row per KPI, columns ``kpi`` and
        ``value`` (in the order of ``metrics``)."""
        return pd.DataFrame({"kpi": list(self.metrics),
                             "value": np.asarray(list(self.metrics.values()), dtype=float)})

    def _repr_html_(self) -> str:
        """Jupyter: the plan KPIs, the territory table and the violations, if any."""
        return to_html(self)  # the renderer is registered from above (present.notebook)


def evaluate(scenario: Scenario, assignment: np.ndarray) -> Evaluation:
    """Score ``assignment`` (territory index per item, :data:`NO_TERRITORY` if unassigned) by
    the scenario's family (:mod:`territory_opt.family`)."""
    assignment = np.asarray(assignment, dtype=np.int64)
    if assignment.shape != (scenario.n_items,):
        raise ValueError(f"assignment has shape {assignment.shape}; expected ({scenario.n_items},)")
    return family_of(scenario).evaluate(scenario, assignment)


@dataclass(frozen=True)
class Additions:
    """What a family adds to the common evaluation: per-territory columns, plan metrics,
    violations found on the territory table, the centres dispersion is measured to, and its
    own objective terms."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    violations: Callable[[pd.DataFrame], list[Violation]] | None = None
    centres: np.ndarray | None = None
    objective: ObjectiveTerms | None = None


def evaluate_with(scenario: Scenario, assignment: np.ndarray,
                  additions: Additions | None = None) -> Evaluation:
    """The common evaluation of the territory families (tables, balance, capacity, locks,
    eligibility, disruption, geography, quotas), with a family's ``additions``."""
    additions = additions or Additions()
    assignment = np.asarray(assignment, dtype=np.int64)
    assigned = assignment != NO_TERRITORY
    table = _territory_table(scenario, assignment, assigned)
    after_items = list(table.columns).index("items") + 1
    for offset, (name, column) in enumerate(additions.columns.items()):
        table.insert(after_items + offset, name, column)
    geography = _geography(scenario, assignment, additions.centres)
    if geography is not None:
        table = pd.concat([table, geography[0][list(GEOGRAPHY_COLUMNS)]], axis=1)
    quotas = scenario.spec.quotas
    if quotas is not None:
        table = pd.concat([table, quota_columns(quotas, table[quotas.basis].to_numpy(),
                                                scenario.fte)], axis=1)
    violations = rule_violations(scenario, assignment, assigned, table)
    if additions.violations is not None:
        violations += additions.violations(table)
    terms = additions.objective or objective_terms(scenario, assignment)
    metrics = _plan_metrics(scenario, assignment, assigned, table)
    metrics.update(additions.metrics)
    if quotas is not None:
        metrics.update(quota_metrics(table))
    if geography is not None:
        metrics.update({name: geography[1][name] for name in GEOGRAPHY_METRICS
                        if name in geography[1]})
    metrics["objective"] = terms.total
    metrics["hard_violations"] = float(sum(v.hard for v in violations))
    return Evaluation(table, metrics, violations, terms)


GEOGRAPHY_COLUMNS = ("components", "polsby_popper", "hull_ratio", "area_km2", "dispersion_km")
"""Per-territory geography KPIs (:mod:`territory_opt.kpi.geography`) in the territory table."""
GEOGRAPHY_METRICS = ("cut_edges", "disconnected_territories", "polsby_popper_mean",
                     "polsby_popper_min")


def _geography(scenario: Scenario, assignment: np.ndarray, centres: np.ndarray | None
               ) -> tuple[pd.DataFrame, dict[str, float]] | None:
    """Compactness and contiguity KPIs where the scenario has polygons or an adjacency
    (none for plain accounts: no shape, no neighbours). Dispersion is measured to each
    territory's centre: ``centres`` (lat, lon per territory) when the family chooses them,
    else the home."""
    polygons = scenario.geometry is not None and any(
        g.geom_type in ("Polygon", "MultiPolygon") for g in scenario.geometry)
    if not polygons and scenario.adjacency is None:
        return None
    k = scenario.n_territories
    weight = dispersion_weight(scenario)
    if centres is None:
        centres = np.column_stack([scenario.home_lat, scenario.home_lon])
    return evaluate_geography(scenario.geometry if polygons else None, scenario.lat,
                              scenario.lon, scenario.adjacency, assignment, k, weight, centres)


def loads(scenario: Scenario, assignment: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Sum of ``weight`` per territory (unassigned items count nowhere)."""
    assigned = assignment != NO_TERRITORY
    return np.asarray(np.bincount(assignment[assigned], weights=weight[assigned],
                                  minlength=scenario.n_territories), dtype=float)


def attribute_loads(scenario: Scenario, assignment: np.ndarray, attribute: str) -> np.ndarray:
    """Load of ``attribute`` per territory: each item's load on its own territory (the pair
    table's value where it lists one, else the item's attribute value), plus the accounts in
    the territory when the scenario has named accounts."""
    assigned = np.flatnonzero(assignment != NO_TERRITORY)
    weight = scenario.pair_load(attribute, assigned, assignment[assigned])
    load = np.bincount(assignment[assigned], weights=weight, minlength=scenario.n_territories)
    return np.asarray(load + scenario.account_loads(attribute, assignment), dtype=float)


def item_travel_km(scenario: Scenario, assignment: np.ndarray) -> np.ndarray:
    """Km from each item to its territory: the pair table's distance where it lists one, else
    great-circle km to the home; NaN if neither (no home) or unassigned."""
    km = np.full(scenario.n_items, np.nan)
    assigned = np.flatnonzero(assignment != NO_TERRITORY)
    km[assigned] = scenario.distance(assigned, assignment[assigned])
    return km


def moved_mask(scenario: Scenario, assignment: np.ndarray) -> np.ndarray:
    """Items that have a current territory and are now elsewhere."""
    return np.asarray((scenario.current != NO_TERRITORY) & (assignment != scenario.current))


def band_excess(scenario: Scenario, assignment: np.ndarray, attribute: str, tolerance: float) -> (
    np.ndarray
):
    """Attribute units outside ``[(1-τ)·target, (1+τ)·target]`` per territory (>= 0)."""
    load = attribute_loads(scenario, assignment, attribute)
    target = scenario.targets(attribute)
    below = np.maximum((1 - tolerance) * target - load, 0)
    return np.asarray(below + np.maximum(load - (1 + tolerance) * target, 0))


def objective_terms(scenario: Scenario, assignment: np.ndarray) -> ObjectiveTerms:
    """The scenario's objective for ``assignment``, recomputed term by term (under
    ``objective.priorities``, criterion by criterion)."""
    objective = scenario.spec.objective
    if objective.priorities:
        return ObjectiveTerms(0.0, 0.0, 0.0, priorities=criterion_values(scenario, assignment))
    km = item_travel_km(scenario, assignment)
    travel = float(np.nansum(km * scenario.travel_weight()))
    moved = moved_mask(scenario, assignment)
    disruption = float(scenario.item_weight(objective.disruption.per)[moved].sum())
    levels = 0.0
    if scenario.hierarchy is not None:  # territories.levels: per-level soft bands, a price
        levels = level_penalty(scenario, {r.attribute: attribute_loads(
            scenario, assignment, r.attribute) for r in scenario.spec.rules.balance})
    penalty = levels + sum(
        rule.penalty
        * float(band_excess(scenario, assignment, rule.attribute, rule.tolerance).sum())
        for rule in scenario.spec.rules.balance
        if not rule.hard and rule.level is None
    )
    return ObjectiveTerms(
        travel=objective.travel.weight * travel,
        disruption=objective.disruption.weight * disruption
        + crossing_cost(scenario, assignment),
        balance_penalty=penalty,
    )


def dispersion_weight(scenario: Scenario) -> np.ndarray:
    """Per item: the weight of its distance to the centre (the dispersion attribute, with the
    accounts that go with the unit, or 1)."""
    term = scenario.spec.objective.dispersion
    if term is None or term.attribute is None:
        return np.ones(scenario.n_items)
    return np.asarray(scenario.item_weight(term.attribute), dtype=float)


def _territory_table(scenario: Scenario, assignment: np.ndarray, assigned: np.ndarray) -> (
    pd.DataFrame
):
    table = pd.DataFrame({
        "territory": scenario.territory_ids,
        "name": scenario.territory_names,
        "fte": scenario.fte,
        "items": np.bincount(assignment[assigned], minlength=scenario.n_territories),
    })
    for n, level in enumerate(scenario.hierarchy.levels if scenario.hierarchy else ()):
        table.insert(2 + n, level.name, level.nodes[level.parent])  # each territory's parent
    for name in scenario.attributes:
        load = attribute_loads(scenario, assignment, name)
        target = scenario.targets(name)
        table[name] = load
        table[f"{name}_target"] = target
        with np.errstate(divide="ignore", invalid="ignore"):
            table[f"{name}_dev_pct"] = np.where(target > 0, 100 * (load / target - 1), 0.0)
    km = item_travel_km(scenario, assignment)
    weight = scenario.travel_weight()
    has_home = scenario.has_distance  # a home, or listed pair distances
    travel_total = np.bincount(assignment[assigned], weights=np.nan_to_num(km * weight)[assigned],
                               minlength=scenario.n_territories)
    km_max = np.zeros(scenario.n_territories)
    np.maximum.at(km_max, assignment[assigned], np.nan_to_num(km[assigned]))
    items = table["items"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        km_mean = np.bincount(assignment[assigned], weights=np.nan_to_num(km[assigned]),
                              minlength=scenario.n_territories) / items
    # A territory with no home (and no listed distance) has no travel: NaN, shown as "n/a".
    table["travel"] = np.where(has_home, travel_total, np.nan)
    mean_key, max_key = scenario_travel_keys(scenario.spec)  # km_mean, min_mean, …
    table[mean_key] = np.where(has_home & (items > 0), km_mean, np.nan)
    table[max_key] = np.where(has_home & (items > 0), km_max, np.nan)
    for name, cap in scenario.capacity.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            table[f"{name}_capacity_use_pct"] = np.where(
                np.isfinite(cap) & (cap > 0), 100 * table[name].to_numpy() / cap, np.nan
            )
    return table


def _plan_metrics(
    scenario: Scenario, assignment: np.ndarray, assigned: np.ndarray, table: pd.DataFrame
) -> dict[str, float]:
    metrics: dict[str, float] = {
        "items": float(scenario.n_items),
        "unassigned": float((~assigned).sum()),
        "travel": float(np.nansum(table["travel"].to_numpy())),
        scenario_travel_keys(scenario.spec)[0]: _finite_mean(item_travel_km(scenario,
                                                                            assignment)),
    }
    if scenario.spec.pairs is not None:  # distances the completion rule gave (pairs.complete)
        metrics["pairs_completed"] = float(pairs_completed(scenario))
    for name in scenario.attributes:
        per_fte = table[name].to_numpy() / scenario.fte
        metrics[f"{name}_max_abs_dev_pct"] = float(np.abs(table[f"{name}_dev_pct"]).max())
        mean = per_fte.mean()
        metrics[f"{name}_cv"] = float(per_fte.std() / mean) if mean > 0 else 0.0
        metrics[f"{name}_gini"] = gini(per_fte)
    if scenario.hierarchy is not None:
        metrics.update(level_metrics(scenario, {name: table[name].to_numpy()
                                                for name in scenario.attributes}, assignment))
    if scenario.has_current:
        moved = moved_mask(scenario, assignment)
        metrics["moved_items"] = float(moved.sum())
        metrics["moved_share_items"] = float(moved.mean())
        for name, values in scenario.attributes.items():
            total = float(values.sum())
            metrics[f"moved_share_{name}"] = float(values[moved].sum() / total) if total else 0.0
    return metrics


def _finite_mean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN (shown as n/a) when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = all equal)."""
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if n == 0 or v.sum() <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * ranks - n - 1) @ v / (n * v.sum()))


def rule_violations(
    scenario: Scenario, assignment: np.ndarray, assigned: np.ndarray, table: pd.DataFrame
) -> list[Violation]:
    rules = scenario.spec.rules
    ids = scenario.item_ids
    out: list[Violation] = []
    for i in np.flatnonzero(~assigned):
        out.append(Violation("assignment", f"item {ids[i]}", 1.0, "not assigned to any territory"))

    for rule in rules.balance:
        if rule.level is not None:  # per-level rules: level_violations below
            continue
        load = table[rule.attribute].to_numpy()
        target = scenario.targets(rule.attribute)
        lo, hi = (1 - rule.tolerance) * target, (1 + rule.tolerance) * target
        slack = band_slack(target)
        for k in np.flatnonzero((load < lo - slack) | (load > hi + slack)):
            side, amount = ("below", lo[k] - load[k]) if load[k] < lo[k] else (
                "above", load[k] - hi[k])
            out.append(Violation(
                f"balance {rule.attribute} ±{rule.tolerance * 100:g}%",
                f"territory {scenario.territory_ids[k]}", float(amount),
                f"load {load[k]:,.2f} is {amount:,.2f} {side} the band "
                f"[{lo[k]:,.2f}, {hi[k]:,.2f}]", hard=rule.hard))

    for name, cap in scenario.capacity.items():
        load = table[name].to_numpy()
        for k in np.flatnonzero(load > capacity_limit(cap)):
            out.append(Violation(f"capacity {name}", f"territory {scenario.territory_ids[k]}",
                                 float(load[k] - cap[k]),
                                 f"load {load[k]:,.2f} exceeds capacity {cap[k]:,.2f}"))

    locked = (scenario.lock != NO_TERRITORY) & (assignment != scenario.lock)
    for i in np.flatnonzero(locked):
        out.append(Violation("lock", f"item {ids[i]}", 1.0, f"locked to "
                             f"{scenario.territory_ids[scenario.lock[i]]} but assigned elsewhere"))

    free = np.flatnonzero(assigned & (scenario.lock == NO_TERRITORY))
    for item in free[~scenario.is_allowed(free, assignment[free])]:
        out.append(_why_not_allowed(scenario, int(item), int(assignment[item])))

    cap_rule = rules.disruption
    if cap_rule is not None and scenario.has_current:
        weight = scenario.item_weight(cap_rule.attribute)
        share = float(weight[moved_mask(scenario, assignment)].sum() / max(weight.sum(), 1e-12))
        if share > share_limit(cap_rule.max_share):
            out.append(Violation(f"disruption cap ({cap_rule.attribute})", "plan",
                                 share - cap_rule.max_share,
                                 f"moved share {share:.2%} exceeds the cap "
                                 f"{cap_rule.max_share:.2%}"))

    if scenario.groups is not None:  # account groups (rules.groups)
        out += [Violation(b.rule, b.where, b.amount, b.message) for b in
                broken_groups(scenario.groups, assignment, scenario.territory_ids)]
    if scenario.hierarchy is not None:  # territories.levels: per-level bands, same_parent
        out += [Violation(*v) for v in level_violations(scenario, assignment, {
            name: table[name].to_numpy() for name in scenario.attributes})]
    return out


def _why_not_allowed(scenario: Scenario, i: int, k: int) -> Violation:
    item, territory = scenario.item_ids[i], scenario.territory_ids[k]
    hierarchy, same = scenario.hierarchy, scenario.spec.rules.same_parent
    if hierarchy is not None and same is not None and not hierarchy.stays(
            scenario.spec, scenario.current[[i]], np.array([k]))[0]:
        parent = hierarchy.level(same.level)
        return Violation(f"same_parent {same.level}", f"item {item}", 1.0,
                         f"must stay in {same.level} "
                         f"{parent.nodes[parent.parent[scenario.current[i]]]} but goes to "
                         f"{territory} in {parent.nodes[parent.parent[k]]}")
    if scenario.leave is not None and scenario.leave[i] and scenario.current[i] == k:
        return Violation("lock state leave", f"item {item}", 1.0,
                         f"must leave its current territory {territory} but stays")
    if scenario.only_listed and not scenario.listed(np.array([i]), np.array([k]))[0]:
        return Violation("pairs only_listed", f"item {item}", 1.0,
                         f"the pair with territory {territory} is not in the pairs table")
    for tag in scenario.spec.rules.eligibility:
        value = scenario.tags[tag][i]
        if value and value not in scenario.skills[k]:
            return Violation(f"eligibility {tag}", f"item {item}", 1.0,
                             f"needs {tag} '{value}' but territory {territory} has skills "
                             f"{sorted(scenario.skills[k])}")
    km = float(scenario.distance(np.array([i]), np.array([k]))[0])
    limit = scenario.max_distance or float("inf")
    unit = scenario.distance_unit
    return Violation("max distance", f"item {item}", km - limit,
                     f"{km:,.1f} {unit} from territory {territory}; limit {limit:,.1f} {unit} "
                     f"(rules.{max_distance_key(scenario.spec)})")
