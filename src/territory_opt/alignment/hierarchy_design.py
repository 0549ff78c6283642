"""The joint design (``hierarchy.design: joint``): each territory's lowest-level parent chosen
with the item assignment in one MIP over every allowed pair (exact backends only).

The model is :func:`~territory_opt.alignment.formulation.build_alignment`'s with the joint
columns of :mod:`territory_opt.alignment.hierarchy_rules`; the table's parents are one of its
feasible points, so at the same gap target its optimum is at most the fixed design's. The plan's
scenario carries the chosen parents (:meth:`Hierarchy.with_parents`): the evaluator, the reports,
``territories.csv`` and ``plan.json`` (``hierarchy``) all see them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from territory_opt.alignment.diagnose import solver_conflicts
from territory_opt.alignment.formulation import AlignmentModel, build_alignment
from territory_opt.alignment.hierarchy_rules import chosen_parents
from territory_opt.alignment.support import AUTO_FALLBACK, require_support
from territory_opt.backends.contract import SolveOptions, Status, stop_status
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.errors import Conflict, InfeasibleError, NoPlanFoundError, TerritoryOptError
from territory_opt.kpi.evaluate import attribute_loads, objective_terms
from territory_opt.kpi.levels import level_violations
from territory_opt.plan import Plan
from territory_opt.scenario.conflicts import quick_conflicts
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.settings import SolveSettings


def is_joint(scenario: Scenario) -> bool:
    """Whether the scenario asks for the joint design."""
    return scenario.hierarchy is not None and scenario.hierarchy.design == "joint"


def breaks_hierarchy(scenario: Scenario, assignment: np.ndarray) -> bool:
    """Whether ``assignment`` breaks a hard hierarchy rule (a per-level band, a cap on moves
    across): the construction's restricted MIPs may leave such rows slack."""
    if scenario.hierarchy is None:
        return False
    loads = {name: attribute_loads(scenario, assignment, name) for name in scenario.attributes}
    return any(v[4] for v in level_violations(scenario, assignment, loads))


def designed(model: AlignmentModel, x: np.ndarray) -> Scenario:
    """The model's scenario with the parents the solution ``x`` chose."""
    scenario = model.scenario
    assert scenario.hierarchy is not None and model.joint is not None
    chosen = chosen_parents(x, model.joint, scenario.n_territories)
    return dataclasses.replace(scenario, hierarchy=scenario.hierarchy.with_parents(chosen))


def solve_joint(scenario: Scenario, settings: SolveSettings, deadline: Deadline) -> Plan:
    """The best joint design and alignment the backend can prove by ``deadline``.

    Raises
    ------
    InfeasibleError
        No design and plan meet every hard rule (the conflicts name the level).
    NoPlanFoundError
        The limit passed before any plan was found.
    """
    conflicts = quick_conflicts(scenario)
    if conflicts:
        raise InfeasibleError(conflicts)
    watch = Stopwatch()
    asked = settings.backend_name
    backend = get_backend(AUTO_FALLBACK if asked == "auto" else settings.backend,
                          n_pairs=scenario.n_items * scenario.n_territories)
    require_support(scenario, backend.name)
    if deadline.work is not None and not backend.capabilities.work_limit:
        raise TerritoryOptError(f"work_limit: the {backend.name} backend has no deterministic "
                                "work limit; use highs or cpsat, or a time limit")
    model = build_alignment(scenario)
    options = SolveOptions(time_limit=deadline.seconds, gap=settings.gap,
                           threads=settings.threads, seed=settings.seed,
                           verbose=settings.verbose, progress=settings.progress,
                           stop=deadline.stop, work_limit=deadline.work)
    result = backend.solve(model.linear, options)
    if result.status == Status.INFEASIBLE:
        raise InfeasibleError(solver_conflicts(scenario, backend, options) or [Conflict(
            "hierarchy (joint design) + hard rules",
            "no choice of parents and no plan meet every hard rule")])
    if result.status == Status.ERROR:
        raise TerritoryOptError(f"{backend.name} failed.\n{result.log[-2000:]}")
    x = result.x
    assignment = model.assignment(x) if result.status.has_plan and x is not None else None
    if x is None or assignment is None or (assignment == NO_TERRITORY).any():
        raise NoPlanFoundError(
            f"{backend.name} found no plan of the joint design within {deadline.seconds:g} s "
            f"({model.linear.n_cols:,} variables, {model.linear.n_rows:,} rows). Try a longer "
            "--time-limit, hierarchy.design: fixed, or soft balance rules (hard: false).")
    chosen = designed(model, x)
    objective = objective_terms(chosen, assignment).total
    status, reason = stop_status(objective, result.bound, gap_target=settings.gap,
                                 interrupted=deadline.interrupted,
                                 solver_optimal=result.status == Status.OPTIMAL,
                                 solver_reason=result.stop_reason or deadline.limit_reason())
    bound = result.bound if np.isfinite(result.bound) else float("-inf")
    return Plan(
        scenario=chosen, assignment=assignment, status=status, bound=bound,
        bound_source=result.bound_source or f"{backend.name} (joint design MIP)",
        backend=backend.name,
        options={"time_limit": settings.time_limit, "work_limit": deadline.work,
                 "gap": settings.gap, "threads": settings.threads, "seed": settings.seed,
                 "warm_start": settings.warm_start_name, "design": "joint"},
        seconds={"solve": result.seconds, "total": watch.seconds()},
        solver_objective=result.objective, scenario_digest=scenario.digest,
        stop_reason=reason, found_by=backend.name, work=deadline.spent,
        choice={"asked": "auto", "method": backend.name, "why": "the joint design needs an "
                "exact backend"} if asked == "auto" else None,
    )
