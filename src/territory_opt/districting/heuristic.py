"""Districting heuristic for thousands to tens of thousands of units: seeded region growing that
keeps every district connected, then local search that never disconnects a district.

Two kinds of step, both keeping every district connected:

* single-unit moves between neighbouring districts, refused when the unit's district would
  split (:func:`~territory_opt.districting.contiguity.removal_keeps_connected`), annealed;
* recombination (ReCom): two neighbouring districts merged and cut again at an edge of a random
  spanning tree, both sides connected by construction. With narrow bands (±0.5% of a county
  population) almost every single move breaks a band, and recombination is what reaches and
  crosses the feasible plans.

First the search gets inside the bands (annealing the violation, measured in band widths, and
recombining the most violating district toward the nearest one with room), then it anneals the
objective with moves that keep every band, recombining between cycles and going back to the
best plan after a cycle that found nothing better. Only plans inside every band are kept.

Deterministic for a given seed and ``iterations``; a time limit or stop flag cuts the same
sequence of moves short. The bound is cheap and says what it is in ``method``/``log``.

This module is the entry point; the parts are :mod:`~territory_opt.districting.grow` (first
plans), :mod:`~territory_opt.districting.search` (annealing) with its state
(:mod:`~territory_opt.districting.state`) and recombination
(:mod:`~territory_opt.districting.recombine`), and :mod:`~territory_opt.districting.bounds`.
"""

from __future__ import annotations

import math
import random
import threading
import time

import numpy as np

from territory_opt.backends.contract import Status
from territory_opt.districting.bounds import infeasibility_reason, lower_bound, trivial_bound
from territory_opt.districting.contiguity import Adjacency, objective_value, plan_problems
from territory_opt.districting.grow import initial_plan
from territory_opt.districting.problem import DistrictingProblem, DistrictingResult
from territory_opt.districting.search import Search
from territory_opt.districting.state import Clock


def solve_heuristic(problem: DistrictingProblem, *, time_limit: float, seed: int = 0,
                    start: np.ndarray | None = None, stop: threading.Event | None = None,
                    iterations: int | None = None, bound: bool = True,
                    patience: float | None = None) -> DistrictingResult:
    """Districts by region growing and annealing; the best plan inside the bands.

    Parameters
    ----------
    problem : DistrictingProblem
    time_limit : float
        Seconds for everything (growing, search, bound).
    seed : int
        Seeds the random choices: same seed and ``iterations``, same plan.
    start : numpy.ndarray, optional
        District per unit to start from; pieces cut off from their district are regrown.
    stop : threading.Event, optional
        When set, the search ends and the best plan so far is returned.
    iterations : int, optional
        Move attempts at most (default: until the time limit).
    bound : bool
        Whether to spend time on a lower bound (the LP without contiguity, for costs).
    patience : float, optional
        End the search once this many seconds pass without a better plan (a warm start for
        the exact solver need not use all its time).

    Returns
    -------
    DistrictingResult
        FEASIBLE with the best plan (OPTIMAL when it meets the bound), INFEASIBLE when a cheap
        argument proves there is no plan, NO_PLAN when the search found none.
    """
    started = time.perf_counter()
    deadline = started + max(time_limit, 0.0)
    adj = Adjacency.of(problem)
    proof = infeasibility_reason(problem, adj)
    if proof:
        return _result(problem, None, -math.inf, Status.INFEASIBLE, started, "heuristic", proof)
    lower, bound_note = (trivial_bound(problem, adj) if not bound
                         else lower_bound(problem, adj, deadline, share=0.2))
    rng = random.Random(seed)
    labels = initial_plan(problem, adj, rng, start)
    search = Search(problem, adj, labels, rng)
    log = [f"bound: {bound_note}"]
    if search.infeasible_start:
        log.append("growing left a district disconnected (locks apart?)")
    else:
        search.run(Clock(deadline, stop, iterations, patience), lower)
    log.append(search.summary())
    if search.best is None:
        return _result(problem, None, lower, Status.NO_PLAN, started, "heuristic", *log)
    plan = np.asarray(search.best, dtype=np.int64)
    centres = search.best_centres
    issues = plan_problems(problem, plan, centres)
    if issues:  # a guard: the search keeps every rule by construction
        log.append("best plan rejected: " + "; ".join(issues))
        return _result(problem, None, lower, Status.NO_PLAN, started, "heuristic", *log)
    value = objective_value(problem, plan, centres)
    status = Status.OPTIMAL if value <= lower + 1e-9 * max(1.0, abs(value)) else Status.FEASIBLE
    return DistrictingResult(labels=plan, objective=value, bound=lower, status=status,
                             seconds=time.perf_counter() - started,
                             method=f"heuristic (region growing + annealing); bound: "
                                    f"{bound_note}",
                             centres=centres, log="\n".join(log))


def _result(problem: DistrictingProblem, labels: np.ndarray | None, bound: float,
            status: Status, started: float, method: str, *log: str) -> DistrictingResult:
    return DistrictingResult(labels=labels, objective=math.inf, bound=bound, status=status,
                             seconds=time.perf_counter() - started, method=method,
                             log="\n".join(log))
