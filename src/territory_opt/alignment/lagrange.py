"""Lagrangian relaxation of the band rows by subgradient ascent: the bound for very large models.

At 100,000 items × 500 territories even the restricted LP is a minutes-long simplex solve. Its
dual has one variable per band row, though — a thousand here — so instead: move the band and cap
rows into the objective with multipliers ``y``; for fixed ``y`` every item simply takes its
cheapest pair (``c_ik − Σ_r a_r,ik y_r``), a vectorised pass over the candidate pairs. Subgradient
steps (Polyak's rule) move ``y`` towards the dual optimum, which equals the LP bound.

Every so often, and at the end, ``y`` is priced over *all* pairs (the same pricing as column
generation, :func:`territory_opt.alignment.colgen.price`): that gives a bound valid for the whole
problem, and any pair with negative reduced cost joins the candidates.

A cheapest-pair point is rarely balanced (at 100,000 × 500 its rows are 15–20% of a band off on
average, however good ``y``): ties flip whole groups of items at once. The *average* of the
recent cheapest-pair points is close to an LP solution (primal recovery, as in the volume
algorithm), so that fractional point is what :mod:`territory_opt.alignment.repair` rounds and mends.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from territory_opt.alignment.colgen import Pricing, Relaxation, price
from territory_opt.alignment.formulation import AlignmentModel, build_alignment
from territory_opt.alignment.pairs import PairSet
from territory_opt.backends.contract import SolveOptions, Status
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.scenario.model import Scenario

FULL_PRICING_EVERY = 100
"""Iterations between pricing passes over all pairs."""
MAX_ITERATIONS = 3000
STALL_ITERATIONS = 30
"""Halve the target's lead after this many iterations without a better restricted bound."""
FIRST_LEAD = 0.01
"""Polyak's target starts this far (relative) above the best value, and halves on stalls.
(0.1 overshot so far at 100,000 × 500 that the value fell below the bound at ``y = 0``.)"""
AVERAGE_WEIGHT = 0.05
"""Weight of the newest cheapest-pair point in the moving average of primal points."""
MIN_LEAD = 1e-5


def lagrangian_relaxation(scenario: Scenario, pairs: PairSet, options: SolveOptions,
                          deadline: Deadline) -> Relaxation:
    """The Lagrangian bound and the cheapest-pair point at the best multipliers found by
    ``deadline`` (or :data:`MAX_ITERATIONS`)."""
    watch = Stopwatch()
    model = build_alignment(scenario, pairs)
    state = _State(model)
    y, lead = np.zeros(state.n_rows), FIRST_LEAD
    best_y, best_restricted = y.copy(), -np.inf
    bound, priced_in, stall = -np.inf, 0, 0
    average = np.zeros(len(model.pair_item))
    iteration = 0
    for iteration in range(1, MAX_ITERATIONS + 1):
        value, activity, choice = state.evaluate(y)
        average *= 1.0 - AVERAGE_WEIGHT
        average[choice] += AVERAGE_WEIGHT
        if value > best_restricted + 1e-9 * abs(best_restricted if np.isfinite(
                best_restricted) else 1.0):
            best_restricted, best_y, stall = value, y.copy(), 0
        else:
            stall += 1
            if stall >= STALL_ITERATIONS:
                lead, stall = lead / 2, 0
        out_of_time = deadline.remaining() <= 0
        stopped = deadline.expired()
        if iteration % FULL_PRICING_EVERY == 0 or out_of_time or stopped or lead < MIN_LEAD:
            pricing = state.price(best_y)
            bound = max(bound, pricing.bound)
            if len(pricing.item) and not (out_of_time or stopped):
                old = model
                model = build_alignment(scenario, model.pairs.with_pairs(
                    pricing.item, pricing.territory, scenario.n_territories))
                state = _State(model)
                average = _carry_over(old, model, average)
                priced_in += len(pricing.item)
                best_restricted = -np.inf  # the candidates changed
                continue
            if out_of_time or stopped or lead < MIN_LEAD:
                break
        gradient = state.subgradient(y, activity)
        norm = float(gradient @ gradient)
        if norm <= 1e-18:
            pricing = state.price(y)
            bound = max(bound, pricing.bound)
            if not len(pricing.item):
                best_y = y
                break
            continue
        # Polyak's step towards a target above the best value so far; the lead shrinks as
        # the ascent stalls (a target-level method: no upper bound needed).
        target = best_restricted + lead * max(abs(best_restricted), 1e-6)
        y = state.project(y + (target - value) / norm * gradient)
    x = np.zeros(model.linear.n_cols)
    x[: len(average)] = average / max(float(average.sum()) / scenario.n_items, 1e-12)
    reduced = state.reduced_costs(best_y)
    restricted = best_restricted if np.isfinite(best_restricted) else bound
    return Relaxation(model, x, reduced, restricted, bound, Status.FEASIBLE, iteration,
                      priced_in, watch.seconds(), {}, lp=False,
                      duals=state.duals(best_y))


def _carry_over(old: AlignmentModel, new: AlignmentModel, values: np.ndarray) -> np.ndarray:
    """Per-pair ``values`` of ``old``'s pairs re-indexed to ``new``'s (a superset); new pairs 0."""
    m = new.scenario.n_territories
    where = np.searchsorted(new.pair_item * m + new.pair_territory,
                            old.pair_item * m + old.pair_territory)
    out = np.zeros(len(new.pair_item))
    out[where] = values
    return out


class _State:
    """The candidate pairs' costs and band-row coefficients, for fast evaluation."""

    def __init__(self, model: AlignmentModel) -> None:
        self.model = model
        linear = model.linear
        n = model.scenario.n_items
        n_pairs = len(model.pair_item)
        self.cost = linear.c[:n_pairs]
        # Rows in units of their own size (workload hours and potential dollars differ by
        # 1,000×; unscaled, the dollar rows would take every step).
        lo, hi = linear.row_lo[n:], linear.row_hi[n:]
        self.scale = np.maximum(np.maximum(np.where(np.isfinite(lo), np.abs(lo), 0.0),
                                           np.where(np.isfinite(hi), np.abs(hi), 0.0)), 1e-9)
        rows = sp.diags(1.0 / self.scale) @ linear.a[n:, :n_pairs]
        self.rows = sp.csr_array(rows)  # band and cap rows × pair columns
        self.columns = self.rows.T.tocsr()
        self.n_rows = self.rows.shape[0]
        self.lo, self.hi = lo / self.scale, hi / self.scale
        self.item = model.pair_item
        self.starts = np.flatnonzero(np.r_[True, self.item[1:] != self.item[:-1]])
        # Soft rows: their slacks cost ``penalty`` per unit, so |y| may not exceed it.
        self.cap = np.full(self.n_rows, np.inf)
        groups = {g.name: g for g in linear.row_groups}
        for block in model.elastic:
            group = groups[block.group]
            cost = linear.c[block.start:block.stop:2]
            rows_of = slice(group.start - n, group.stop - n)
            self.cap[rows_of] = cost[: group.stop - group.start] * self.scale[rows_of]

    def project(self, y: np.ndarray) -> np.ndarray:
        """Multipliers whose Lagrangian is finite (signs the bounds allow, soft caps)."""
        y = np.where(np.isfinite(self.lo), y, np.minimum(y, 0.0))
        y = np.where(np.isfinite(self.hi), y, np.maximum(y, 0.0))
        return np.asarray(np.clip(y, -self.cap, self.cap))

    def cheapest(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each pair's Lagrangian cost ``c − Aᵀy``, repeated per pair: its item's cheapest."""
        value = self.cost - self.columns @ y
        item_min = np.minimum.reduceat(value, self.starts)
        return value, np.repeat(item_min, np.diff(np.r_[self.starts, len(value)]))

    def evaluate(self, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Restricted Lagrangian value, the band activity of the cheapest-pair point, and
        that point's pair indices."""
        value, item_min = self.cheapest(y)
        at_min = np.flatnonzero(value <= item_min)
        first = np.r_[True, self.item[at_min][1:] != self.item[at_min][:-1]]
        choice = at_min[first]
        x = np.zeros(len(value))
        x[choice] = 1.0
        activity = self.rows @ x
        side = np.where(y > 0, self.lo, np.where(y < 0, self.hi, 0.0))
        terms = np.where(y != 0, y * side, 0.0)
        return float(terms.sum() + item_min[self.starts].sum()), activity, choice

    def subgradient(self, y: np.ndarray, activity: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            side = np.where(y > 0, self.lo, np.where(y < 0, self.hi,
                                                     np.clip(activity, self.lo, self.hi)))
        return np.asarray(np.nan_to_num(side - activity, posinf=0.0, neginf=0.0))

    def duals(self, y: np.ndarray) -> np.ndarray:
        """Row duals of the model: each item's cheapest Lagrangian cost, then ``y`` back in
        the rows' own units (the ascent works on scaled rows)."""
        _, item_min = self.cheapest(y)
        return np.concatenate([item_min[self.starts], y / self.scale])

    def price(self, y: np.ndarray) -> Pricing:
        duals = self.duals(y)
        known = np.sort(self.item * self.model.scenario.n_territories
                        + self.model.pair_territory)
        n = self.model.scenario.n_items
        caps = {n + r: float(c / self.scale[r]) for r, c in enumerate(self.cap)
                if np.isfinite(c)}
        return price(self.model.layout, duals, slack_caps=caps, known=known)

    def reduced_costs(self, y: np.ndarray) -> np.ndarray:
        value, item_min = self.cheapest(y)
        reduced = np.zeros(self.model.linear.n_cols)
        reduced[: len(value)] = value - item_min
        return reduced
