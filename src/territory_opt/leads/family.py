"""The leads family — the plug-in registered under ``model: leads``: a scenario solved as one
batch (every lead, capacity per period) into a
:class:`~territory_opt.plan.Plan` — what ``territory-opt solve`` does with a leads scenario.

On a lead history this is the allocation in hindsight: the most expected revenue any policy
could have reached with the same capacity, a yardstick for the replay's policies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from territory_opt.backends.contract import Progress, Status, stop_status, timed_from
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.errors import Conflict, InfeasibleError, NoPlanFoundError, TerritoryOptError
from territory_opt.family import Views
from territory_opt.kpi.evaluate import Evaluation, ObjectiveTerms
from territory_opt.leads.batch import LEAD_BACKENDS, allocate, batch_conflicts
from territory_opt.leads.kpis import evaluate_leads
from territory_opt.leads.support import SUPPORT
from territory_opt.leads.views import VIEWS
from territory_opt.plan import Plan
from territory_opt.scenario.conflicts import quick_conflicts
from territory_opt.scenario.model import Scenario
from territory_opt.settings import SolveSettings


def solve_leads(scenario: Scenario, *, backend: str, deadline: Deadline, gap: float,
                threads: int | None, seed: int,
                progress: Callable[[Progress], None] | None = None) -> Plan:
    """Allocate every lead of the scenario (module docstring) by ``deadline``; progress is
    reported with the seconds since ``deadline`` began.

    Raises
    ------
    InfeasibleError
        Naming the rules that clash (eligibility, ownership, capacity, fairness) and by how
        much.
    NoPlanFoundError
        The time limit passed before any allocation was found.
    """
    if backend not in (*LEAD_BACKENDS, "auto", "heuristic") and not backend.startswith("pulp:"):
        raise TerritoryOptError(f"leads run on {', '.join(LEAD_BACKENDS)}, pulp:NAME or auto, "
                                f"not '{backend}'")
    assert scenario.spec.leads is not None
    fairness = scenario.spec.leads.fairness
    conflicts = batch_conflicts(scenario, fairness=None)
    if conflicts:
        raise InfeasibleError(conflicts)
    started = Stopwatch()
    time_limit = deadline.seconds
    report = timed_from(deadline, progress)
    if report is not None:
        report(Progress(math.inf, -math.inf, 0.0, phase="lead allocation"))
    result = allocate(scenario, backend=backend, deadline=deadline, gap=gap,
                      threads=threads, seed=seed, fairness=fairness, progress=report)
    if result.status == Status.INFEASIBLE:
        raise InfeasibleError(batch_conflicts(scenario, fairness=fairness, deadline=deadline)
                              or [Conflict("leads", "no allocation keeps every rule (proven "
                                           "by the solver); no time was left to say which "
                                           "rules clash")])
    if result.status == Status.ERROR:
        tail = result.log.strip().splitlines()[-1:] or ["no log"]
        raise TerritoryOptError(f"the {backend} backend failed on the batch model: {tail[0]}")
    if not result.status.has_plan:
        raise NoPlanFoundError(f"no allocation found within {time_limit:g} s "
                               f"({scenario.n_items:,} leads, {scenario.n_territories} reps)")
    assignment = np.asarray(result.assignment, dtype=np.int64)
    plan = Plan(scenario=scenario, assignment=assignment, status=Status.FEASIBLE,
                bound=result.bound, backend="highs" if backend == "auto" else backend,
                bound_source="backend",
                options={"time_limit": time_limit, "gap": gap, "threads": threads,
                         "seed": seed},
                seconds={"solve": result.seconds, "total": started.seconds()},
                solver_objective=result.objective, scenario_digest=scenario.digest,
                found_by=result.method, work=deadline.spent)
    status, reason = stop_status(plan.objective, plan.bound, gap_target=gap,
                                 interrupted=deadline.interrupted,
                                 solver_reason=deadline.limit_reason())
    if report is not None:
        report(Progress(plan.objective, plan.bound, 0.0, phase="done"))
    return replace(plan, status=status, stop_reason=reason)


MAX_ANALYSED_LEAD_MOVES = 200
"""Moves compared one by one at most: a lead allocation's objective comes with the whole lead
evaluation."""


class LeadsFamily:
    """Leads to reps in one batch (module docstring)."""

    name = "leads"
    views: Views = VIEWS
    support = SUPPORT
    analysed_moves = MAX_ANALYSED_LEAD_MOVES

    def conflicts(self, scenario: Scenario) -> list[Conflict]:
        """The arithmetic checks of totals, else eligibility, ownership and capacity that
        cannot all hold (fairness aside)."""
        return quick_conflicts(scenario) or batch_conflicts(scenario, fairness=None)

    def solve(self, scenario: Scenario, settings: SolveSettings, deadline: Deadline) -> Plan:
        """The allocation of most expected revenue within ``settings`` by ``deadline``."""
        return solve_leads(scenario, backend=settings.backend_name,
                           deadline=deadline, gap=settings.gap,
                           threads=settings.threads, seed=settings.seed,
                           progress=settings.progress)

    def evaluate(self, scenario: Scenario, assignment: np.ndarray) -> Evaluation:
        """Expected revenue, balance across reps, capacity per period, fairness."""
        return evaluate_leads(scenario, assignment)

    def objective_terms(self, scenario: Scenario, assignment: np.ndarray) -> ObjectiveTerms:
        """Minus the expected revenue, plus soft fairness penalties."""
        return evaluate_leads(scenario, assignment).objective


FAMILY = LeadsFamily()
