"""Quick construction of a good plan: LP relaxation → restricted MIP over low-reduced-cost pairs.

Balanced assignment LPs are nearly integral (a few dozen split items at 1,000 × 20), so:

1. solve the LP relaxation with HiGHS — its optimum is a lower bound valid for the whole model;
2. keep every pair the LP uses, plus the pairs whose reduced cost is smallest, and forbid the rest;
3. solve that restricted MIP with HiGHS to its first plan: any plan it finds is feasible for the
   full model; if it finds none, widen the set of pairs and try again (a bounded number of
   rounds);
4. polish: re-solve the same restricted MIP from that plan towards the gap target, within the
   construction's budget.

The result is a feasible start for every backend (a MIP start or a hint), so a backend that cannot
find a plan by itself within its limit still returns one, and the LP bound gives a valid bound to
backends that report none.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from territory_opt.backends.base import Progress, SolveOptions, SolveResult, Status
from territory_opt.backends.highs import HighsBackend
from territory_opt.models.alignment import AlignmentModel

EXTRA_PAIRS_PER_ITEM = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Rounds: allow this many extra (lowest reduced cost) pairs per item beyond the LP's own.

Small sets are either proven infeasible in a fraction of a second or give a plan at once; each
round stops at its first plan (measured at 5,000 × 50: 0.1 and 0.25 infeasible in 0.3 s each,
0.5 first plan in 4 s, 1.0 in 9 s)."""
POLISH_PAIRS_PER_ITEM = 2.0
"""Extra pairs per item the polishing MIP may use (at least as many as the round that worked)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Construction:
    """A feasible start (or None) and the LP bound found on the way."""

    x: np.ndarray | None
    objective: float
    lp_bound: float
    lp_status: Status
    seconds: float
    note: str


def construct(
    model: AlignmentModel,
    options: SolveOptions,
    budget: float,
    *,
    polish_budget: float = float("inf"),
    lp_only: bool = False,
) -> Construction:
    """Build a feasible solution of ``model`` within ``budget`` seconds (see module docstring).

    The polishing MIP gets at most ``polish_budget`` of those seconds. With ``lp_only``, stop
    after the LP relaxation: its bound, no plan.
    """
    start = time.perf_counter()
    linear = model.linear
    highs = HighsBackend()

    def sub_options(limit: float, first_plan: bool = False) -> SolveOptions:
        return SolveOptions(time_limit=max(limit, 0.1), gap=options.gap, threads=options.threads,
                            seed=options.seed, stop=options.stop,
                            solution_limit=1 if first_plan else None)

    relaxed = dataclasses.replace(linear, integer=np.zeros(linear.n_cols, dtype=bool))
    lp = highs.solve(relaxed, sub_options(budget))
    if lp.status != Status.OPTIMAL or lp.x is None:
        return Construction(None, float("inf"), float("-inf"), lp.status,
                            time.perf_counter() - start, f"LP relaxation: {lp.status}")
    if lp_only:
        return Construction(None, float("inf"), lp.objective, lp.status,
                            time.perf_counter() - start, "LP relaxation only")
    if _is_integral(lp.x, linear.integer):
        return Construction(lp.x, lp.objective, lp.objective, lp.status,
                            time.perf_counter() - start, "LP relaxation is integral")

    n_pairs, n_items = len(model.pair_item), model.scenario.n_items
    used = lp.x[:n_pairs] > 1e-6
    order = _cheapest_unused(lp, used, n_pairs)
    result: SolveResult | None = None
    for round_no, extra in enumerate(EXTRA_PAIRS_PER_ITEM, start=1):
        remaining = budget - (time.perf_counter() - start)
        if remaining <= 0.1 or (options.stop is not None and options.stop.is_set()):
            break
        allowed = used.copy()
        allowed[order[: int(extra * n_items)]] = True
        ub = linear.ub.copy()
        ub[:n_pairs] = np.where(allowed, ub[:n_pairs], 0.0)
        restricted = dataclasses.replace(linear, ub=ub)
        result = highs.solve(restricted, sub_options(remaining, first_plan=True))
        if result.status.has_plan and result.x is not None:
            if options.progress is not None:  # the LP bound, not the restricted MIP's: valid
                options.progress(Progress(result.objective, lp.objective,
                                          time.perf_counter() - start))
            # Polish: a wider restricted MIP from that plan, to the gap target or the polish
            # budget (the first plan comes from a set chosen for feasibility, not quality).
            # Kept short: the backend goes on from the polished plan over the whole model.
            polish_time = min(budget - (time.perf_counter() - start), polish_budget)
            if polish_time > 0.1 and result.gap > options.gap:
                allowed[order[: int(max(extra, POLISH_PAIRS_PER_ITEM) * n_items)]] = True
                ub[:n_pairs] = np.where(allowed, linear.ub[:n_pairs], 0.0)
                polished = highs.solve(dataclasses.replace(linear, ub=ub), dataclasses.replace(
                    sub_options(polish_time), warm_start=result.x))
                if polished.status.has_plan and polished.objective <= result.objective:
                    result = polished
            assert result.x is not None
            return Construction(result.x, result.objective, lp.objective, lp.status,
                                time.perf_counter() - start,
                                f"LP rounding: restricted MIP over {int(allowed.sum()):,} of "
                                f"{n_pairs:,} pairs (round {round_no})")
    status = result.status if result is not None else Status.NO_PLAN
    return Construction(None, float("inf"), lp.objective, lp.status,
                        time.perf_counter() - start, f"restricted MIPs found no plan ({status})")


def _is_integral(x: np.ndarray, integer: np.ndarray) -> bool:
    values = x[integer]
    return bool(np.all(np.abs(values - np.round(values)) <= 1e-6))


def _cheapest_unused(lp: SolveResult, used: np.ndarray, n_pairs: int) -> np.ndarray:
    """Pair indices not used by the LP, by increasing reduced cost (stable, so deterministic)."""
    if lp.reduced_costs is None:
        return np.flatnonzero(~used)
    cost = np.where(used, np.inf, lp.reduced_costs[:n_pairs])
    order = np.argsort(cost, kind="stable")
    return order[: int((~used).sum())]
