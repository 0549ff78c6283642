"""Compare allocations of one scenario: KPIs side by side, and every item that moved between
the first (the baseline, e.g. the current alignment) and each other, with what the move did to
each objective term and the hard rule that forced it, where one did.

A move's effect is measured by undoing it alone in the plan that made it: the change in each
objective term, and the hard rules the undone plan would break (a lock, eligibility or distance,
the capacity or balance band of either territory, the disruption cap). A move that made the
objective worse was forced by those rules (``forced_by``); one that made it better was the
solver's choice, and its deltas say what it bought.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from territory_opt.family import family_of
from territory_opt.kpi.evaluate import (
    Evaluation,
    ObjectiveTerms,
    attribute_loads,
    evaluate,
    moved_mask,
)
from territory_opt.kpi.metrics import metric
from territory_opt.rendering import to_html
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.tolerance import band_slack, capacity_limit, share_limit

MAX_ANALYSED_MOVES = 2_000
"""Moves per plan whose effect is measured (undoing each re-evaluates the objective); the rest
are listed without deltas."""
TERMS = ("travel", "disruption", "balance_penalty", "dispersion", "cut_edges", "revenue")


@dataclass(frozen=True, eq=False)
class Comparison:
    """KPIs of several allocations and the moves between the first and each other."""

    evaluations: dict[str, Evaluation]
    moves: pd.DataFrame  # plan, item, from, to, delta_<term>..., undo_breaks, forced_by

    def kpis(self) -> pd.DataFrame:
        """Plan-level KPIs, one column per allocation."""
        return pd.DataFrame({name: e.metrics for name, e in self.evaluations.items()})

    def _repr_html_(self) -> str:
        """Jupyter: the KPIs side by side and the first moves (``moves`` has them all)."""
        return to_html(self)  # the renderer is registered from above (present.notebook)


def compare(scenario: Scenario, assignments: Mapping[str, np.ndarray]) -> Comparison:
    """Compare allocations (territory index per item) of ``scenario``; the first is the
    baseline the moves are counted from.

    Examples
    --------
    >>> comparison = compare(scenario, {"current": scenario.current, "plan": plan.assignment})
    >>> comparison.moves.head()  # doctest: +SKIP
    """
    if len(assignments) < 2:
        raise ValueError("compare needs at least two allocations")
    arrays = {name: np.asarray(a, dtype=np.int64) for name, a in assignments.items()}
    evaluations = {name: evaluate(scenario, a) for name, a in arrays.items()}
    names = list(arrays)
    base = arrays[names[0]]
    frames = [moves_between(scenario, base, arrays[name], name) for name in names[1:]]
    return Comparison(evaluations, pd.concat(frames, ignore_index=True))


def moves_between(scenario: Scenario, base: np.ndarray, plan: np.ndarray, name: str
                  ) -> pd.DataFrame:
    """The items ``plan`` puts elsewhere than ``base``, with each move's effect (module
    docstring), largest objective change first."""
    moved = np.flatnonzero(base != plan)
    family = family_of(scenario)
    terms = family.objective_terms(scenario, plan)
    limit = family.analysed_moves
    deltas = np.full((len(moved), len(TERMS)), np.nan)
    forced = [""] * len(moved)
    checker = _RuleCheck(scenario, plan)
    for row, item in enumerate(moved[:limit].tolist()):
        undone = plan.copy()
        undone[item] = base[item]
        before = family.objective_terms(scenario, undone)
        deltas[row] = _as_vector(terms) - _as_vector(before)
        forced[row] = ", ".join(checker.broken_by_undoing(item, int(base[item])))
    frame = pd.DataFrame({"plan": name, "item": scenario.item_ids[moved],
                          "from": scenario.territory_label(base[moved]),
                          "to": scenario.territory_label(plan[moved])})
    for column, term in enumerate(TERMS):
        if column < 3 or np.nan_to_num(deltas[:, column]).any():
            frame[f"delta_{term}"] = deltas[:, column]
    frame["delta_objective"] = deltas.sum(axis=1)
    frame["undo_breaks"] = forced
    # A move that costs objective was forced by what undoing it would break; one that gains
    # was the solver's choice (undoing it may break rules too: a plan is a whole).
    costs = np.nan_to_num(frame["delta_objective"].to_numpy()) > 1e-9
    frame["forced_by"] = np.where(costs, forced, "")
    order = np.argsort(-np.abs(np.nan_to_num(frame["delta_objective"].to_numpy())),
                       kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def _as_vector(terms: ObjectiveTerms) -> np.ndarray:
    return np.asarray([getattr(terms, term) for term in TERMS], dtype=float)


class _RuleCheck:
    """Which hard rules a plan would break if one item went back to another territory."""

    def __init__(self, scenario: Scenario, plan: np.ndarray) -> None:
        self.scenario, self.plan = scenario, plan
        rules = scenario.spec.rules
        self.bands = [(rule.attribute, rule.tolerance) for rule in rules.balance
                      if rule.hard and rule.level is None]
        names = {name for name, _ in self.bands} | set(scenario.capacity)
        self.loads = {name: attribute_loads(scenario, plan, name) for name in names}
        cap = rules.disruption
        self.cap = cap if cap is not None and scenario.has_current else None
        if self.cap is not None:
            weight = scenario.item_weight(self.cap.attribute)
            self.cap_weight = weight
            self.moved_share = float(weight[moved_mask(scenario, plan)].sum()
                                     / max(weight.sum(), 1e-12))

    def broken_by_undoing(self, item: int, back: int) -> list[str]:
        """The rules broken if ``item`` left ``plan[item]`` for ``back``."""
        s, now = self.scenario, int(self.plan[item])
        out = []
        if s.lock[item] != NO_TERRITORY and s.lock[item] == now:
            out.append("lock")
        if back != NO_TERRITORY and s.lock[item] == NO_TERRITORY and not s.is_allowed(
                np.array([item]), np.array([back]))[0]:
            out.append("eligibility/distance")
        for name, tolerance in self.bands:
            target = s.targets(name)
            change = self._load_change(name, item, now, back)
            for k, delta in change.items():
                load = self.loads[name][k] + delta
                slack = float(band_slack(target[k]))
                if (load < (1 - tolerance) * target[k] - slack
                        or load > (1 + tolerance) * target[k] + slack):
                    out.append(f"balance {name} ±{tolerance * 100:g}%")
                    break
        for name, capacity in s.capacity.items():
            if back != NO_TERRITORY:
                load = self.loads[name][back] + self._load_change(name, item, now, back)[back]
                if load > capacity_limit(capacity[back]):
                    out.append(f"capacity {name}")
        if self.cap is not None and s.current[item] != NO_TERRITORY:
            was = s.current[item] != now
            would = s.current[item] != back
            share = self.moved_share + (float(would) - float(was)) * float(
                self.cap_weight[item]) / max(float(self.cap_weight.sum()), 1e-12)
            if share > share_limit(self.cap.max_share):
                out.append("disruption cap")
        return list(dict.fromkeys(out))

    def _load_change(self, name: str, item: int, now: int, back: int) -> dict[int, float]:
        """Load change per territory when ``item`` goes from ``now`` to ``back``."""
        s = self.scenario
        change: dict[int, float] = {}
        if now != NO_TERRITORY:
            change[now] = -float(s.pair_load(name, np.array([item]), np.array([now]))[0])
        if back != NO_TERRITORY:
            change[back] = change.get(back, 0.0) + float(
                s.pair_load(name, np.array([item]), np.array([back]))[0])
        return change


def move_reason(move: Mapping[Any, Any]) -> str:
    """Why one item moved, in words, from its :func:`moves_between` row: the hard rule that
    forced it, or the objective term it improves most (the report's and review's wording)."""
    if move.get("forced_by"):
        return f"forced by {move['forced_by']}"
    delta = float(move["delta_objective"])
    if not math.isfinite(delta):
        return "not analysed (beyond the moves whose effect is measured)"
    if delta < -1e-9:
        terms = {t: float(move[f"delta_{t}"]) for t in TERMS if f"delta_{t}" in move
                 and math.isfinite(float(move[f"delta_{t}"]))}
        main = min(terms, key=lambda t: terms[t])
        return f"improves the objective (mainly {metric(main).label})"
    if delta > 1e-9:
        # Costs the objective on its own and no single rule forces it: it belongs to the plan
        # as a whole (a chain of moves, or a heuristic's leftover).
        return "part of the plan as a whole (no single rule forces it)"
    return "neutral (no change to the objective)"
