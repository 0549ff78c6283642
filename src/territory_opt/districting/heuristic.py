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
from collections.abc import Callable

import numpy as np

from territory_opt.backends.contract import Progress, Status
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.districting.bounds import infeasibility_reason, lower_bound, trivial_bound
from territory_opt.districting.contiguity import Adjacency, objective_value, plan_problems
from territory_opt.districting.grow import initial_plan
from territory_opt.districting.problem import DistrictingProblem, DistrictingResult
from territory_opt.districting.search import Search
from territory_opt.districting.state import Clock

BOUND_SHARE = 0.2
"""Share of the time left the LP bound may use (costs only)."""
PROGRESS_EVERY = 0.5
"""Seconds at least between two progress reports of the search."""
HEARTBEAT_EVERY = 2.0
"""Seconds at most between two progress reports of the search, better plan or not: a long
search is never silent."""
SEARCH_PHASE = "districting search"
BOUND_PHASE = "districting bound"


def given_deadline(deadline: Deadline | None, time_limit: float | None) -> Deadline:
    """``deadline``, or one of ``time_limit`` seconds from now (for direct calls: benchmarks,
    tests)."""
    if deadline is not None:
        return deadline
    if time_limit is None:
        raise TypeError("give a deadline or a time_limit")
    return Deadline(max(time_limit, 0.0))


def solve_heuristic(problem: DistrictingProblem, *, deadline: Deadline | None = None,
                    time_limit: float | None = None, seed: int = 0,
                    start: np.ndarray | None = None, iterations: int | None = None,
                    bound: bool = True, patience: float | None = None,
                    progress: Callable[[Progress], None] | None = None) -> DistrictingResult:
    """Districts by region growing and annealing; the best plan inside the bands.

    Parameters
    ----------
    problem : DistrictingProblem
    deadline : Deadline
        When everything (growing, search, bound) must end; its stop signal ends the search
        with the best plan so far. Move attempts count as its work.
    time_limit : float, optional
        Instead of ``deadline``: seconds from now.
    seed : int
        Seeds the random choices: same seed and ``iterations``, same plan.
    start : numpy.ndarray, optional
        District per unit to start from; pieces cut off from their district are regrown.
    iterations : int, optional
        Move attempts at most (default: until the deadline).
    bound : bool
        Whether to spend time on a lower bound (the LP without contiguity, for costs).
    patience : float, optional
        End the search once this many seconds pass without a better plan (a warm start for
        the exact solver need not use all its time). Ignored under a work limit.
    progress : callable, optional
        Told of each better plan (its value, the bound, ``deadline.elapsed()``), at most
        every :data:`PROGRESS_EVERY` seconds.

    Returns
    -------
    DistrictingResult
        FEASIBLE with the best plan (OPTIMAL when it meets the bound), INFEASIBLE when a cheap
        argument proves there is no plan, NO_PLAN when the search found none.
    """
    started = Stopwatch()
    deadline = given_deadline(deadline, time_limit)
    adj = Adjacency.of(problem)
    proof = infeasibility_reason(problem, adj)
    if proof:
        return _result(problem, None, -math.inf, Status.INFEASIBLE, started, "heuristic", proof)
    if progress is not None and bound:
        progress(Progress(math.inf, -math.inf, deadline.elapsed(), phase=BOUND_PHASE))
    lower, bound_note = (trivial_bound(problem, adj) if not bound
                         else lower_bound(problem, adj, deadline, share=BOUND_SHARE))
    rng = random.Random(seed)
    labels = initial_plan(problem, adj, rng, start)
    search = Search(problem, adj, labels, rng)
    log = [f"bound: {bound_note}"]
    if search.infeasible_start:
        log.append("growing left a district disconnected (locks apart?)")
    else:
        reporter = None if progress is None else _Reporter(progress, deadline, lower)
        if progress is not None:
            progress(Progress(math.inf, lower, deadline.elapsed(), phase=SEARCH_PHASE))
        search.run(Clock(deadline, iterations, patience,
                         None if reporter is None else reporter.better,
                         None if reporter is None else reporter.heartbeat), lower)
        if progress is not None and search.best is not None:
            progress(Progress(search.best_value, lower, deadline.elapsed(), phase=SEARCH_PHASE))
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
                             seconds=started.seconds(),
                             method=f"heuristic (region growing + annealing); bound: "
                                    f"{bound_note}",
                             centres=centres, log="\n".join(log))


class _Reporter:
    """What the search tells of its progress: each better plan's value, at most every
    :data:`PROGRESS_EVERY` seconds (an annealing finds many), and a heartbeat at least every
    :data:`HEARTBEAT_EVERY` seconds with the best so far (``inf`` before the first plan inside
    the bands), so that a long search without a better plan is never silent."""

    def __init__(self, progress: Callable[[Progress], None], deadline: Deadline,
                 lower: float) -> None:
        self.tell = progress
        self.deadline = deadline
        self.lower = lower
        self.best = math.inf
        self.started = deadline.elapsed()
        self.last = -math.inf  # when the last report went out

    def better(self, value: float) -> None:
        """A better plan of ``value`` was found."""
        self.best = min(self.best, value)
        if self.deadline.elapsed() - self.last >= PROGRESS_EVERY:
            self._report()

    def heartbeat(self) -> None:
        """The search checks its clock: report the best so far if it has been quiet."""
        if self.deadline.elapsed() - max(self.last, self.started) >= HEARTBEAT_EVERY:
            self._report()

    def _report(self) -> None:
        self.last = self.deadline.elapsed()
        self.tell(Progress(self.best, self.lower, self.last, phase=SEARCH_PHASE))


def _result(problem: DistrictingProblem, labels: np.ndarray | None, bound: float,
            status: Status, started: Stopwatch, method: str, *log: str) -> DistrictingResult:
    return DistrictingResult(labels=labels, objective=math.inf, bound=bound, status=status,
                             seconds=started.seconds(), method=method,
                             log="\n".join(log))
