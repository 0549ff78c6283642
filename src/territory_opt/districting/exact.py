"""Exact districting by MILP (HiGHS through the project's backend), with contiguity.

Two formulations, after Validi & Buchanan, "Political districting to minimize cut edges"
(Math. Prog. Comp. 2022):

* **Labeling** (``cut_edges``): ``X[i,j]`` unit i in district j, a root ``R[i,j]`` per district,
  ``Z[e,j] >= X[u,j] - X[v,j]`` counting cut edges once (their "extended" objective, a stronger
  LP than one variable per edge), contiguity by a single-commodity flow that leaves from the
  roots and may not cross a cut edge. Units are ordered by decreasing weight; a district's root
  is its first unit in that order, and when districts are interchangeable (same bands, no locks,
  no fixed centres) the roots are in increasing order too — the orbitope-like symmetry break,
  written with cumulative root sums ``W``. Fixing: a unit roots nothing when the units from it
  onwards in the order cannot reach the lower limit; the first units whose weighted distance
  to every earlier root exceeds the upper limit root districts 0, 1, …, and units farther than
  the upper limit from such a root leave its district.
* **Centres** (``dispersion``/``travel``): ``x[i,c]`` unit i in the district centred at c (Hess;
  ``x[c,c]`` opens c, ``Σ x[c,c] = k``; with fixed centres one column per district). No label
  symmetry. Contiguity by a,b-separator rows ``x[a,c] <= Σ_{s∈S} x[s,c]`` (S a minimal separator
  of a's piece from c): the neighbourhood ones up front, the rest generated when a solve returns
  a split district, then the MIP is solved again from the heuristic's plan. Fixing: a unit
  whose weighted path distance to c exceeds the upper limit never joins c.

The time limit covers the warm start, the model build and every re-solve. OPTIMAL only when
the solver's bound proves it (within ``OPTIMALITY_GAP``); the bound is HiGHS's dual bound,
rounded up for the integral cut-edge count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from territory_opt.backends.contract import (
    OPTIMALITY_GAP,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
)
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.districting.bounds import infeasibility_reason, trivial_bound
from territory_opt.districting.contiguity import (
    Adjacency,
    objective_value,
    plan_problems,
)
from territory_opt.districting.formulations import CentreModel, Formulation, LabelingModel
from territory_opt.districting.heuristic import given_deadline, solve_heuristic
from territory_opt.districting.problem import (
    DistrictBand,
    DistrictingProblem,
    DistrictingResult,
)

WARM_SHARE = 0.15
"""Share of the time limit given to the heuristic for a warm start (at most WARM_MAX s)."""
WARM_MAX = 20.0
POLISH_SHARE = 0.1
"""Share of the time left after the warm start for re-solving pairs of districts exactly."""
PAIR_SECONDS = 5.0
"""Seconds at most for one pair's re-solve."""
POLISH_UNITS = 150
"""Pairs of districts larger than this (in units) are not re-solved."""
MAX_ROUNDS = 50
"""Separator rounds at most before giving up on contiguity by row generation."""


def solve_exact(problem: DistrictingProblem, *, deadline: Deadline | None = None,
                time_limit: float | None = None, seed: int = 0, threads: int | None = None,
                start: np.ndarray | None = None,
                progress: Callable[[Progress], None] | None = None) -> DistrictingResult:
    """Solve ``problem`` to proven optimality by ``deadline``, if possible.

    Parameters
    ----------
    problem : DistrictingProblem
    deadline : Deadline
        When everything must end: warm start, build, solves. Its stop signal ends the solve;
        the best plan so far is returned.
    time_limit : float, optional
        Instead of ``deadline``: seconds from now.
    seed, threads : int
        HiGHS's random seed and thread count (None: HiGHS's default).
    start : numpy.ndarray, optional
        A plan (district per unit) to start from; without one the heuristic makes one.
    progress : callable, optional
        Told of HiGHS's incumbents and bounds (as HiGHS reports them).

    Returns
    -------
    DistrictingResult
        OPTIMAL (proven), FEASIBLE (a plan and a valid bound), INFEASIBLE (proven), NO_PLAN.
    """
    started = Stopwatch()
    deadline = given_deadline(deadline, time_limit)
    adj = Adjacency.of(problem)
    proof = infeasibility_reason(problem, adj)
    if proof:
        return DistrictingResult(None, math.inf, math.inf, Status.INFEASIBLE,
                                 started.seconds(), "exact: arithmetic", log=proof)
    log: list[str] = []
    warm = _warm_start(problem, start, deadline, seed, log)
    if warm is not None and problem.objective == "cut_edges":
        warm = polish_pairs(problem, adj, warm, deadline.rest().share(POLISH_SHARE), log)
    model: Formulation = (LabelingModel(problem, adj) if problem.objective == "cut_edges"
                     else CentreModel(problem, adj))
    log.append(model.describe())
    solved = _solve_rounds(model, warm, deadline, seed, threads, progress, log)
    return _finish(problem, model, solved, warm, started, log)


def _warm_start(problem: DistrictingProblem, start: np.ndarray | None, deadline: Deadline,
                seed: int, log: list[str]) -> np.ndarray | None:
    """A plan to start from: ``start`` when it keeps every rule, else the heuristic's."""
    if start is not None and not plan_problems(problem, np.asarray(start)):
        log.append("warm start: the given plan")
        return np.asarray(start, dtype=np.int64)
    budget = deadline.rest().share(WARM_SHARE, at_most=WARM_MAX)
    heuristic = solve_heuristic(problem, deadline=budget, seed=seed, start=start,
                                bound=False, patience=max(0.3, budget.seconds / 2))
    log.append(f"warm start: heuristic {heuristic.status} {heuristic.objective:g} "
               f"in {heuristic.seconds:.1f} s")
    return heuristic.labels


def polish_pairs(problem: DistrictingProblem, adj: Adjacency, labels: np.ndarray,
                 deadline: Deadline, log: list[str]) -> np.ndarray:
    """Re-solve each pair of neighbouring districts exactly (their union split in two, the
    rest of the plan fixed: only the cut edges inside the union change), in passes until a
    pass improves nothing or the time is up. A large-neighbourhood search on small MIPs: the
    warm start it leaves is a local optimum for every pair."""
    lab = np.asarray(labels, dtype=np.int64).copy()
    before = objective_value(problem, lab)
    improved, solved = True, 0
    while improved and not deadline.expired():
        improved = False
        e = adj.edges
        pairs = sorted({(int(min(a, b)), int(max(a, b)))
                        for a, b in zip(lab[e[:, 0]], lab[e[:, 1]], strict=True) if a != b})
        for a, b in pairs:
            if deadline.expired():
                break
            better = _resolve_pair(problem, adj, lab, a, b, deadline)
            solved += 1
            if better is not None:
                lab = better
                improved = True
    after = objective_value(problem, lab)
    log.append(f"pair re-solves: {solved}, {before:g} -> {after:g}")
    return lab


def _resolve_pair(problem: DistrictingProblem, adj: Adjacency, labels: np.ndarray, a: int,
                  b: int, deadline: Deadline) -> np.ndarray | None:
    """The plan with districts a and b re-split optimally, if that cuts fewer edges."""
    units = np.flatnonzero((labels == a) | (labels == b))
    if len(units) > POLISH_UNITS or len(units) < 2:
        return None
    local = np.full(problem.n_units, -1, dtype=np.int64)
    local[units] = np.arange(len(units))
    e = adj.edges
    inner = local[e[(local[e[:, 0]] >= 0) & (local[e[:, 1]] >= 0)]]
    bands = tuple(DistrictBand(band.name, np.asarray(band.weight)[units],
                               np.asarray(band.lo)[[a, b]], np.asarray(band.hi)[[a, b]])
                  for band in problem.bands)
    lock = None
    if problem.lock is not None:
        sub_lock = np.asarray(problem.lock)[units]
        lock = np.where(sub_lock == a, 0, np.where(sub_lock == b, 1, -1))
    sub = DistrictingProblem(len(units), 2, inner, bands, "cut_edges", lock=lock,
                             contiguity=problem.contiguity)
    model = LabelingModel(sub, Adjacency.of(sub))
    current = np.where(labels[units] == a, 0, 1)
    x0 = model.point(current)
    part = deadline.share(1.0, at_most=PAIR_SECONDS)
    if part.remaining() <= 0.05:
        return None
    result = get_backend("highs").solve(model.linear(), SolveOptions(
        warm_start=x0, threads=1).within(part))
    if result.x is None or result.objective >= cut_edges_inside(inner, current) - 0.5:
        return None
    split = model.labels(result.x)
    if model.symmetric and split[0] != current[0]:
        split = 1 - split  # keep the labels the rest of the plan knows, when they are free
    out = labels.copy()
    out[units] = np.where(split == 0, a, b)
    return out if not plan_problems(problem, out) else None


def cut_edges_inside(edges: np.ndarray, labels: np.ndarray) -> int:
    """Cut edges among ``edges`` under ``labels``."""
    return int(np.count_nonzero(labels[edges[:, 0]] != labels[edges[:, 1]]))


@dataclass
class _Solved:
    result: SolveResult | None = None
    labels: np.ndarray | None = None
    rounds: int = 0
    proven_split: bool = False  # a solve ended with a split district and no time to go on
    notes: list[str] = field(default_factory=list)


def _solve_rounds(model: Formulation, warm: np.ndarray | None, deadline: Deadline, seed: int,
                  threads: int | None, progress: Callable[[Progress], None] | None,
                  log: list[str]) -> _Solved:
    """Solve, add separators for split districts, solve again, until every district is one
    piece or the time is up."""
    out = _Solved()
    backend = get_backend("highs")
    while out.rounds < MAX_ROUNDS:
        if deadline.over(0.05):
            break
        x0 = model.point(warm) if warm is not None else None
        options = SolveOptions(threads=threads, seed=seed, warm_start=x0, progress=progress,
                               gap=OPTIMALITY_GAP / 2).within(deadline)
        result = backend.solve(model.linear(), options)
        out.rounds += 1
        out.result = result
        log.append(f"round {out.rounds}: {model.size()}; HiGHS {result.status} "
                   f"{result.objective:g} bound {result.bound:g} in {result.seconds:.1f} s "
                   f"({result.stop_reason})")
        if result.x is None:
            break
        labels, added = model.separate(result.x)
        out.labels = labels
        if not added:
            return out
        log.append(f"  {added} separator rows for split districts")
        out.labels = None
        if result.status != Status.OPTIMAL:
            out.proven_split = True
    return out


def _finish(problem: DistrictingProblem, model: Formulation, solved: _Solved,
            warm: np.ndarray | None, started: Stopwatch, log: list[str]) -> DistrictingResult:
    """The better of the MIP's plan and the warm start, with the MIP's bound."""
    res = solved.result
    bound = model.valid_bound(res.bound) if res is not None else -math.inf
    cheap, _ = trivial_bound(problem, model.adj)
    bound = max(bound, cheap)  # HiGHS's bound is -inf or weak when the root LP is cut short
    candidates = [p for p in (solved.labels, warm) if p is not None
                  and not plan_problems(problem, p)]
    method = f"exact: HiGHS MILP, {model.name}"
    elapsed = started.seconds()
    if res is not None and res.status == Status.INFEASIBLE and not candidates:
        return DistrictingResult(None, math.inf, math.inf, Status.INFEASIBLE, elapsed, method,
                                 log="\n".join(log))
    if not candidates:
        return DistrictingResult(None, math.inf, bound, Status.NO_PLAN, elapsed, method,
                                 log="\n".join(log))
    values = [objective_value(problem, p) for p in candidates]
    best = candidates[int(np.argmin(values))]
    value = float(min(values))
    bound = min(bound, value)
    gap = (value - bound) / abs(value) if value != 0 else (0.0 if bound >= value else math.inf)
    status = Status.OPTIMAL if gap <= OPTIMALITY_GAP else Status.FEASIBLE
    centres = model.centres(best)
    return DistrictingResult(best, value, bound, status, elapsed, method, centres=centres,
                             log="\n".join(log))
