"""Districting proofs and bounds: why no plan exists, and lower bounds on the objective.

Cheap ones (totals against band limits, pieces of the adjacency graph, every unit at its
cheapest centre) and the LP relaxation of the centre model without contiguity. Both the
heuristic and the exact solver use them.
"""

from __future__ import annotations

import numpy as np

from territory_opt.backends.contract import SolveOptions, Status
from territory_opt.backends.linear import LinearModel
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline
from territory_opt.districting.contiguity import Adjacency, components
from territory_opt.districting.formulations import CentreModel
from territory_opt.districting.problem import DistrictingProblem, district_anchors

LP_BOUND_CELLS = 200_000
"""The LP bound is built up to this many unit × centre variables; above, the trivial bound."""


def infeasibility_reason(problem: DistrictingProblem, adj: Adjacency) -> str:
    """A short proof that no plan exists, from totals and graph components; "" if none found."""
    for band in problem.bands:
        total = float(np.sum(band.weight))
        if total < float(np.sum(band.lo)) - 1e-9 * max(1.0, abs(total)):
            return f"band {band.name}: total {total:g} is below the sum of the lower limits"
        if total > float(np.sum(band.hi)) + 1e-9 * max(1.0, abs(total)):
            return f"band {band.name}: total {total:g} is above the sum of the upper limits"
    if problem.k > problem.n_units:
        return f"{problem.k} districts from {problem.n_units} units"
    if not problem.contiguity:
        return ""
    comp = graph_components(adj)
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    if n_comp > problem.k:
        return f"the adjacency graph has {n_comp} pieces, more than {problem.k} districts"
    anchors = district_anchors(problem)
    for j, units in enumerate(anchors):
        if len({int(comp[u]) for u in units}) > 1:
            return f"district {j}'s locked units and centre lie in different graph pieces"
    if problem.fixed_centres is not None:
        seeded = {int(comp[u]) for u in problem.fixed_centres}
        if len(seeded) < n_comp:
            return "a piece of the adjacency graph holds no fixed centre"
    return ""


def graph_components(adj: Adjacency) -> np.ndarray:
    """Piece of the adjacency graph each unit lies in."""
    return components(adj, np.zeros(adj.n, dtype=np.int64))


def trivial_bound(problem: DistrictingProblem, adj: Adjacency) -> tuple[float, str]:
    """A bound that costs nothing: ``k - pieces`` cut edges (the k districts, contracted, still
    connect each piece of the graph), or every unit at its cheapest allowed centre."""
    if problem.objective == "cut_edges":
        pieces = int(graph_components(adj).max()) + 1
        return float(max(problem.k - pieces, 0)), "k - graph pieces (districts contracted)"
    assert problem.cost is not None
    cost = np.asarray(problem.cost, dtype=float)
    cheapest = cost.min(axis=1)
    if problem.lock is not None and problem.fixed_centres is not None:
        locked = np.flatnonzero(np.asarray(problem.lock) >= 0)
        cheapest[locked] = cost[locked, np.asarray(problem.lock)[locked]]
    return float(cheapest.sum()), "each unit at its cheapest centre"


def lower_bound(problem: DistrictingProblem, adj: Adjacency, deadline: Deadline,
                share: float) -> tuple[float, str]:
    """The LP relaxation without contiguity when it is small enough to solve in ``share`` of
    what is left of ``deadline`` (HiGHS), else :func:`trivial_bound`. Both are valid bounds."""
    fallback = trivial_bound(problem, adj)
    if problem.objective == "cut_edges":
        return fallback
    budget = deadline.rest().share(share)
    assert problem.cost is not None
    cells = problem.n_units * problem.cost.shape[1]
    if budget.remaining() < 0.05 or cells > LP_BOUND_CELLS:
        return fallback
    value = relaxation_lp(problem, budget)
    if value is None or value <= fallback[0]:
        return fallback
    return value, "LP relaxation without contiguity (HiGHS)"


def relaxation_lp(problem: DistrictingProblem, deadline: Deadline) -> float | None:
    """Optimum of the LP relaxation of the centre model without contiguity (a valid bound for
    ``dispersion``/``travel``), or None when HiGHS does not finish by ``deadline``."""
    model = CentreModel(problem, Adjacency.of(problem), contiguity=False)
    lp = model.linear()
    lp = LinearModel(lp.c, lp.offset, lp.lb, lp.ub, np.zeros(lp.n_cols, dtype=bool), lp.a,
                     lp.row_lo, lp.row_hi)
    result = get_backend("highs").solve(lp, SolveOptions().within(deadline))
    return result.bound if result.status == Status.OPTIMAL else None
