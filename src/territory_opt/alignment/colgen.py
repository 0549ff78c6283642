"""The LP relaxation of the alignment model by column generation, with a bound valid for all pairs.

The model is built over a few pairs per item (:mod:`territory_opt.alignment.pairs`); HiGHS solves
that restricted LP; then every pair of the whole problem is priced against its duals, block by
block in numpy, and the pairs with negative reduced cost join the LP, until none is left.

Each pricing pass also yields a Lagrangian bound that is valid for the *whole* problem, whatever
the pair set: keep "each item in one territory" as a constraint and move the band and cap rows
into the objective with the LP's duals ``y`` (clipped to the signs the rows allow), then

``L(y) = Σ_r y_r · b_r(y) + Σ_i min_k (c_ik − Σ_r a_r,ik · y_r)``

where ``b_r`` is the row's lower bound if ``y_r > 0`` and its upper bound if ``y_r < 0``, and
``k`` runs over every allowed territory of item ``i``. ``L(y) <=`` the optimum of the full MIP for
any such ``y``, and it equals the full LP optimum once pricing finds nothing to add. A bound from
the restricted model alone would not be valid: a pair it lacks could lower the optimum.

If the restricted LP is infeasible (too few pairs for the bands), phase 1 minimises the hard rows'
relative violation with the same pricing; a violation that pricing cannot remove proves the
scenario infeasible and names the rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from territory_opt.alignment.formulation import (
    AlignmentModel,
    ElasticBlock,
    RowLayout,
    build_alignment,
)
from territory_opt.alignment.pairs import PairSet, cost_block, pair_costs
from territory_opt.backends.contract import SolveOptions, Status
from territory_opt.backends.registry import lp_engine
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.scenario.model import Scenario, item_blocks

ADD_PER_ITEM = 2
"""At most this many new pairs per item per pricing pass (the most negative reduced costs)."""
MAX_ROUNDS = 50
VIOLATION_FACTOR = 1e3
PHASE1_TOL = 1e-7
"""Least total relative violation of the hard rows that counts as infeasible."""
REDUCED_COST_TOL = 1e-7
"""Relative to the largest pair cost: reduced costs above ``-tol`` count as non-negative."""


@dataclasses.dataclass(frozen=True, eq=False)
class Relaxation:
    """The LP relaxation over the final pair set, and what it proves about the whole problem.

    ``model`` is the hard model over ``pairs`` (no softening slacks); ``x`` and
    ``reduced_costs`` are indexed like its columns. ``bound`` is valid for every allowed pair.
    ``status``: OPTIMAL once pricing finds nothing to add (the LP of the whole problem),
    FEASIBLE when cut short (the bound still holds), INFEASIBLE, or NO_PLAN (no LP solution).
    ``violation`` is the hard rows' least relative violation when the scenario is infeasible.
    """

    model: AlignmentModel
    x: np.ndarray | None
    reduced_costs: np.ndarray | None
    objective: float
    bound: float
    status: Status
    rounds: int
    priced_in: int
    seconds: float
    violation: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    lp: bool = True  # x is an LP solution (False: a Lagrangian point, not primal feasible)
    duals: np.ndarray | None = None  # row duals (the band rows' prices), in the model's rows


def relax(scenario: Scenario, pairs: PairSet, options: SolveOptions,
          deadline: Deadline) -> Relaxation:
    """Solve the LP relaxation over ``pairs`` and price in missing pairs (module docstring),
    by ``deadline``."""
    watch = Stopwatch()
    price_of_violation = violation_cost(scenario, pairs)
    # The group rows are left out: unpriced, they would not relax the LP (its bound holds).
    soft = build_alignment(scenario, pairs, soften=price_of_violation, grouped=False)
    lp = _IncrementalLp(soft, options)
    hard_slacks = np.concatenate([np.arange(b.start, b.stop) for b in soft.elastic if b.hard]
                                 or [np.zeros(0, np.int64)])
    lp.set_upper(hard_slacks, 0.0)
    bound, rounds, priced_in = float("-inf"), 0, 0
    phase1 = False
    status = Status.NO_PLAN
    while rounds < MAX_ROUNDS:
        rounds += 1
        lp_status = lp.run(deadline.remaining())
        if lp_status == "infeasible" and not phase1:
            phase1 = True  # too few pairs (or no plan at all): let the hard rows give, dearly
            lp.set_upper(hard_slacks, np.inf)
            continue
        if lp_status != "optimal":
            # Cut short: fall back on the last LP solution that kept the hard rows.
            status = Status.FEASIBLE if lp.kept is not None else Status.NO_PLAN
            break
        status = Status.FEASIBLE  # an LP solution over these pairs; not yet proven complete
        if not phase1:
            lp.keep()
        if pairs.complete and not phase1:
            # The LP's own objective is only as exact as HiGHS's dual tolerance (1e-7): on costs
            # near 1e-6 it was 3% above a plan the evaluator scored. The Lagrangian bound of the
            # same duals is valid whatever their tolerance, and equal to it otherwise.
            pricing = price(soft.layout, lp.row_duals,
                            slack_caps=lp.slack_caps(soft.elastic, phase1),
                            known=lp.pair_keys())
            bound, status = max(bound, min(lp.objective, pricing.bound)), Status.OPTIMAL
            break
        pricing = price(soft.layout, lp.row_duals,
                        slack_caps=lp.slack_caps(soft.elastic, phase1), known=lp.pair_keys())
        # The elastic LP's optimum is at most the hard one's: its bound is valid for both.
        bound = max(bound, pricing.bound)
        if phase1 and lp.slack_cost(hard_slacks) <= PHASE1_TOL * price_of_violation:
            phase1 = False  # the pairs now allow a plan that keeps every hard row
            lp.set_upper(hard_slacks, 0.0)
            continue
        if len(pricing.item) == 0:
            status = Status.INFEASIBLE if phase1 else Status.OPTIMAL
            break
        if deadline.expired():
            status = Status.NO_PLAN if phase1 else status
            break
        lp.add_pairs(pricing.item, pricing.territory)
        priced_in += len(pricing.item)
    return lp.result(scenario, status, bound, rounds, priced_in, watch)


def violation_cost(scenario: Scenario, pairs: PairSet) -> float:
    """Cost of a 100% violation of a hard row in phase 1: a thousand times the cheapest
    plan's cost over these pairs, so the LP gives up any cost before it violates a row."""
    cost = pair_costs(scenario, pairs.item, pairs.territory)
    if not len(cost):
        return VIOLATION_FACTOR
    starts = np.flatnonzero(np.r_[True, pairs.item[1:] != pairs.item[:-1]])
    return VIOLATION_FACTOR * max(1.0, float(np.minimum.reduceat(cost, starts).sum()))


@dataclasses.dataclass(frozen=True)
class Pricing:
    """Pairs to add and the Lagrangian bound of one pricing pass."""

    item: np.ndarray
    territory: np.ndarray
    bound: float


def price(layout: RowLayout, duals: np.ndarray, *, slack_caps: dict[int, float],
          known: np.ndarray) -> Pricing:
    """Price every allowed pair against ``duals`` (see the module docstring).

    ``slack_caps`` maps a row to the cost of its slacks (soft rows, and hard rows in phase 1):
    its dual may not exceed that in size. ``known`` are the keys (``item × m + territory``) of
    the pairs already in the LP.
    """
    scenario = layout.scenario
    m = scenario.n_territories
    y = _valid_duals(layout, duals, slack_caps)
    n = scenario.n_items
    assign = duals[:n]
    bound = float(_row_bound_terms(layout, y))
    tol = REDUCED_COST_TOL
    items, territories = [], []
    for block in item_blocks(n, m):
        rows = np.arange(block.start, block.stop)
        cost = cost_block(scenario, block)
        scale = max(1.0, float(np.max(cost, where=np.isfinite(cost), initial=0.0)))
        lagrange = cost - layout.dual_terms(y, rows)
        bound += float(lagrange.min(axis=1).sum())
        reduced = cost - layout.dual_terms(duals, rows) - assign[rows][:, None]
        reduced[reduced >= -tol * scale] = np.inf
        take = min(ADD_PER_ITEM, m)
        best = np.argpartition(reduced, take - 1, axis=1)[:, :take] if take < m else (
            np.broadcast_to(np.arange(m), (len(rows), m)))
        negative = np.isfinite(np.take_along_axis(reduced, best, axis=1))
        items.append(np.broadcast_to(rows[:, None], best.shape)[negative])
        territories.append(best[negative])
    item = np.concatenate(items).astype(np.int64)
    territory = np.concatenate(territories).astype(np.int64)
    fresh = ~np.isin(item * m + territory, known)
    return Pricing(item[fresh], territory[fresh], bound)


def _valid_duals(layout: RowLayout, duals: np.ndarray, slack_caps: dict[int, float]
                 ) -> np.ndarray:
    """Duals clipped so each row's Lagrangian term is finite: no pull towards an infinite
    bound, and no more than the cost of the row's slacks."""
    y = duals.copy()
    y[: layout.scenario.n_items] = 0.0
    lo, hi = _row_bounds(layout)
    n = layout.scenario.n_items
    y[(y > 0) & ~np.isfinite(lo)] = 0.0
    y[(y < 0) & ~np.isfinite(hi)] = 0.0
    y[:n] = 0.0
    for row, cap in slack_caps.items():
        y[row] = np.clip(y[row], -cap, cap)
    return y


def _row_bounds(layout: RowLayout) -> tuple[np.ndarray, np.ndarray]:
    lo = [np.ones(layout.scenario.n_items)]
    hi = [np.ones(layout.scenario.n_items)]
    for band in layout.bands:
        lo.append(band.lo)
        hi.append(band.hi)
    if layout.cap_row is not None:
        lo.append(np.array([layout.cap_floor]))
        hi.append(np.array([np.inf]))
    return np.concatenate(lo), np.concatenate(hi)


def _row_bound_terms(layout: RowLayout, y: np.ndarray) -> float:
    lo, hi = _row_bounds(layout)
    n = layout.scenario.n_items
    side = np.where(y[n:] > 0, lo[n:], np.where(y[n:] < 0, hi[n:], 0.0))
    return float(np.sum(y[n:] * np.where(y[n:] == 0, 0.0, side)))


class _IncrementalLp:
    """A HiGHS LP that pair columns are appended to between solves (warm simplex restarts)."""

    def __init__(self, model: AlignmentModel, options: SolveOptions) -> None:
        import highspy

        self.highspy = highspy
        self.model = model
        self.options = options
        settings: dict[str, bool | int | float | str] = {
            "log_to_console": bool(options.verbose)}
        if options.threads is not None:
            highspy.Highs.resetGlobalScheduler(True)
            settings["threads"] = int(options.threads)
        settings["random_seed"] = int(options.seed)
        linear = model.linear
        relaxed = dataclasses.replace(linear, integer=np.zeros(linear.n_cols, dtype=bool))
        self.h: Any = lp_engine().lp_session(relaxed, settings)
        self.costs = linear.c.copy()  # phase 2 costs of every column, appended ones too
        self.col_item = np.full(linear.n_cols, -1, dtype=np.int64)  # -1: a slack column
        self.col_territory = np.full(linear.n_cols, -1, dtype=np.int64)
        n_pairs = len(model.pair_item)
        self.col_item[:n_pairs] = model.pair_item
        self.col_territory[:n_pairs] = model.pair_territory
        self.objective = float("inf")
        self.row_duals = np.zeros(linear.n_rows)
        self.values = np.zeros(linear.n_cols)
        self.col_duals = np.zeros(linear.n_cols)
        self.kept: tuple[np.ndarray, np.ndarray, float] | None = None
        self.kept_duals: np.ndarray | None = None

    def set_upper(self, cols: np.ndarray, upper: float) -> None:
        """Upper bound of ``cols`` (the hard rows' slacks: 0 keeps the rows hard)."""
        if len(cols):
            self.h.changeColsBounds(len(cols), cols.astype(np.int32), np.zeros(len(cols)),
                                    np.full(len(cols), upper))

    def slack_cost(self, cols: np.ndarray) -> float:
        """What the slack columns ``cols`` cost in the last solution."""
        values = np.asarray(self.h.getSolution().col_value, dtype=float)
        return float(values[cols] @ self.costs[cols])

    def slack_caps(self, blocks: tuple[ElasticBlock, ...], phase1: bool) -> dict[int, float]:
        """Row -> cost of its free slack columns: a dual may not exceed it in size."""
        caps: dict[int, float] = {}
        groups = {g.name: g for g in self.model.linear.row_groups}
        for block in blocks:
            if block.hard and not phase1:
                continue  # slacks fixed at zero: the row is hard
            group = groups[block.group]
            for j, row in enumerate(range(group.start, group.stop)):
                caps[row] = float(self.costs[block.start + 2 * j])
        return caps

    def pair_keys(self) -> np.ndarray:
        pairs = self.col_item >= 0
        return np.sort(self.col_item[pairs] * self.model.scenario.n_territories
                       + self.col_territory[pairs])

    def run(self, time_limit: float) -> str:
        # HiGHS's clock runs over the instance's lifetime, not per run.
        self.h.setOptionValue("time_limit", float(self.h.getRunTime() + max(time_limit, 0.1)))
        self.h.run()
        status = self.h.getModelStatus()
        s = self.highspy.HighsModelStatus
        if status in (s.kInfeasible, s.kUnboundedOrInfeasible):
            return "infeasible"
        if status != s.kOptimal:
            return "stopped"
        solution = self.h.getSolution()
        self.objective = float(self.h.getInfo().objective_function_value)
        self.row_duals = np.asarray(solution.row_dual, dtype=float)
        self.values = np.asarray(solution.col_value, dtype=float)
        self.col_duals = np.asarray(solution.col_dual, dtype=float)
        return "optimal"

    def keep(self) -> None:
        """Remember the last solution as one that keeps every hard row: the fallback when a
        later LP is cut short (columns are only ever added, so it stays feasible)."""
        self.kept = (self.values, self.col_duals, self.objective)
        self.kept_duals = self.row_duals

    def add_pairs(self, item: np.ndarray, territory: np.ndarray) -> None:
        layout = self.model.layout
        scenario = self.model.scenario
        cost = pair_costs(scenario, item, territory)
        rows, cols, vals = layout.entries(item, territory, 0)
        order = np.lexsort((rows, cols))
        rows, cols, vals = rows[order], cols[order], vals[order]
        starts = np.searchsorted(cols, np.arange(len(item))).astype(np.int32)
        self.h.addCols(len(item), cost, np.zeros(len(item)), np.ones(len(item)), len(vals),
                       starts, rows.astype(np.int32), vals)
        self.costs = np.concatenate([self.costs, cost])
        self.col_item = np.concatenate([self.col_item, item])
        self.col_territory = np.concatenate([self.col_territory, territory])

    def result(self, scenario: Scenario, status: Status, bound: float, rounds: int,
               priced_in: int, watch: Stopwatch) -> Relaxation:
        """The relaxation re-indexed to the hard model over the final pair set."""
        pairs = self.col_item >= 0
        final = PairSet.of(self.col_item[pairs], self.col_territory[pairs],
                           scenario.n_territories, complete=self.model.pairs.complete)
        model = build_alignment(scenario, final)
        x = reduced = None
        violation = {b.group: self.values[b.start:b.stop].reshape(-1, 2)
                     for b in self.model.elastic if b.hard}
        objective = self.objective
        if status != Status.INFEASIBLE and self.kept is not None:
            kept_values, kept_duals, objective = self.kept
            values = np.zeros(len(self.col_item))  # pairs priced in later are at zero
            values[: len(kept_values)] = kept_values
            col_duals = np.zeros(len(self.col_item))
            col_duals[: len(kept_duals)] = kept_duals
            m = scenario.n_territories
            where = np.searchsorted(final.item * m + final.territory,
                                    self.col_item[pairs] * m + self.col_territory[pairs])
            x = np.zeros(model.linear.n_cols)
            reduced = np.zeros(model.linear.n_cols)
            x[where] = values[pairs]
            reduced[where] = col_duals[pairs]
            soft_blocks = {b.group: b for b in self.model.elastic}
            for block in model.elastic:  # the soft rules' slacks, same order in both models
                if block.group not in soft_blocks:  # rows the LP leaves out (hierarchy)
                    continue
                source = soft_blocks[block.group]
                x[block.start:block.stop] = values[source.start:source.stop]
        duals = self.kept_duals if status != Status.INFEASIBLE else None
        return Relaxation(model, x, reduced, objective, bound, status, rounds, priced_in,
                          watch.seconds(), violation, duals=duals)
