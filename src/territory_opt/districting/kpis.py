"""The districting KPIs: the objective recomputed from an assignment (best centres,
dispersion, cut edges), named accounts where they end up, and contiguity as a rule.

Pure functions of (scenario, assignment) on top of :func:`territory_opt.kpi.evaluate.evaluate_with`,
so a districting plan's objective is the evaluator's, not the solver's claim.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd

from territory_opt.kpi.evaluate import (
    Additions,
    Evaluation,
    ObjectiveTerms,
    Violation,
    dispersion_weight,
    evaluate_with,
    objective_terms,
)
from territory_opt.kpi.geography import best_centres, cut_edges
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.scenario.schema import ScenarioSpec

__all__ = [
    "best_centres",
    "cut_edges",
    "dispersion_weight",
    "districting_objective",
    "districting_terms",
    "evaluate_districting",
]

DistrictingObjective = Literal["cut_edges", "dispersion", "travel"]


def districting_objective(spec: ScenarioSpec) -> DistrictingObjective:
    """Which term a districting scenario minimises: ``cut_edges`` or ``dispersion`` when
    given, else ``travel`` from the territories' homes."""
    if spec.objective.cut_edges is not None:
        return "cut_edges"
    if spec.objective.dispersion is not None:
        return "dispersion"
    return "travel"


def districting_terms(scenario: Scenario, assignment: np.ndarray) -> ObjectiveTerms:
    """The objective of a districting plan: one term, the one the scenario minimises."""
    terms = objective_terms(scenario, assignment)
    kind = districting_objective(scenario.spec)
    if kind == "travel":
        return terms
    objective = scenario.spec.objective
    terms = replace(terms, travel=0.0)
    if kind == "cut_edges":
        weight = objective.cut_edges.weight if objective.cut_edges is not None else 1.0
        return replace(terms, cut_edges=weight * cut_edges(scenario.adjacency, assignment))
    _, totals = best_centres(scenario.lat, scenario.lon, dispersion_weight(scenario),
                             assignment, scenario.n_territories)
    weight = objective.dispersion.weight if objective.dispersion is not None else 1.0
    return replace(terms, dispersion=weight * float(totals.sum()))


def evaluate_districting(scenario: Scenario, assignment: np.ndarray) -> Evaluation:
    """The common evaluation plus the districting objective, named accounts (a column and
    plan metrics), the chosen centres for dispersion, and contiguity as a hard rule."""
    columns: dict[str, np.ndarray] = {}
    metrics: dict[str, float] = {}
    if scenario.accounts is not None:
        where = scenario.accounts.territory(assignment)
        columns["accounts"] = np.bincount(where[where != NO_TERRITORY],
                                          minlength=scenario.n_territories)
        metrics = account_metrics(scenario, assignment)
    return evaluate_with(scenario, assignment, Additions(
        columns=columns, metrics=metrics, centres=_centres(scenario, assignment),
        objective=districting_terms(scenario, assignment),
        violations=lambda table: contiguity_violations(scenario, table)))


def _centres(scenario: Scenario, assignment: np.ndarray) -> np.ndarray | None:
    """(lat, lon) per territory of its best centre unit, for a dispersion or cut-edge
    objective; None (the homes) when travel from the homes is minimised."""
    if districting_objective(scenario.spec) == "travel":
        return None
    k = scenario.n_territories
    units, _ = best_centres(scenario.lat, scenario.lon, dispersion_weight(scenario),
                            assignment, k)
    has = units >= 0
    centres = np.full((k, 2), np.nan)
    centres[has] = np.column_stack([scenario.lat[units[has]], scenario.lon[units[has]]])
    return centres


def contiguity_violations(scenario: Scenario, table: pd.DataFrame) -> list[Violation]:
    """A territory in more than one piece of the unit graph, when the rule asks for one."""
    if not scenario.spec.rules.contiguity or "components" not in table:
        return []
    components = table["components"].to_numpy()
    return [Violation("contiguity", f"territory {scenario.territory_ids[k]}",
                      float(components[k] - 1), f"in {int(components[k])} disconnected pieces")
            for k in np.flatnonzero(components > 1)]


def account_metrics(scenario: Scenario, assignment: np.ndarray) -> dict[str, float]:
    """Plan-level KPIs of the named accounts: how many, how many locked away from their
    unit's territory, and (with a current territory) how many moved."""
    accounts = scenario.accounts
    assert accounts is not None
    where = accounts.territory(assignment)
    out = {"accounts": float(len(accounts)),
           "accounts_locked_away": float(np.sum(accounts.locked
                                                & (where != assignment[accounts.unit])))}
    has_current = accounts.current != NO_TERRITORY
    if has_current.any():
        moved = has_current & (where != accounts.current)
        out["moved_accounts"] = float(moved.sum())
        out["moved_share_accounts"] = float(moved.sum() / has_current.sum())
    return out

