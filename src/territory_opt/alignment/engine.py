"""The alignment engine: scenario -> model -> backend -> :class:`~territory_opt.plan.Plan`.

The flow: quick arithmetic checks; the pairs to offer (all, or each item's nearest territories
on large scenarios, :mod:`territory_opt.alignment.pairs`); the LP relaxation by column generation,
whose bound is valid for every pair (:mod:`territory_opt.alignment.colgen`); a quick construction
(the LP rounded by restricted MIPs, :mod:`territory_opt.alignment.construct`) as a feasible
warm start;
the backend; then the better of the backend's plan and the construction, with the best valid
bound. Ctrl-C stops the backend and returns the best plan found so far.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from territory_opt.alignment.anytime import FULL_MIP_PAIRS
from territory_opt.alignment.choice import choose
from territory_opt.alignment.colgen import Relaxation, relax
from territory_opt.alignment.construct import Construction, construct, improve
from territory_opt.alignment.diagnose import solver_conflicts, violation_conflicts
from territory_opt.alignment.formulation import AlignmentModel
from territory_opt.alignment.heuristic import AlignmentBackend
from territory_opt.alignment.hierarchy_design import breaks_hierarchy, is_joint, solve_joint
from territory_opt.alignment.lagrange import lagrangian_relaxation
from territory_opt.alignment.pairs import PairSet, all_pairs, nearest_pairs
from territory_opt.alignment.priorities import solve_priorities
from territory_opt.alignment.support import require_support
from territory_opt.backends.contract import (
    Backend,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
    stop_status,
)
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.errors import Conflict, InfeasibleError, NoPlanFoundError, TerritoryOptError
from territory_opt.kpi.evaluate import objective_terms
from territory_opt.plan import Plan
from territory_opt.scenario.conflicts import quick_conflicts
from territory_opt.scenario.groups import broken_groups
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.settings import SolveSettings, WarmStart

CONSTRUCT_SHARE = 0.3
"""Share of the time limit the construction may use at most."""

POLISH_SHARE = 0.1
"""Share of the time limit the construction's polishing MIP may use at most."""

RELAX_SHARE = 0.6
"""Share of the time limit the LP relaxation (column generation) may use at most."""

ALL_PAIRS_LIMIT = 1_000_000
"""Up to this many item × territory cells, exact backends get every allowed pair."""

LAGRANGE_CELLS = 10_000_000
"""Above this many item × territory cells the relaxation is Lagrangian, not an LP."""

LP_SECONDS_PER_CELL = 1e-5
"""Column generation's time per item × territory cell, measured here (2 cores): 1.6 s at
5,000 × 50, 21 s at 20,000 × 100 (benchmarks/RESULTS.md, scaling)."""

DEFAULT_CANDIDATES = 8
"""Nearest territories offered per item on the large path (column generation adds more)."""


def solve_alignment(scenario: Scenario, settings: SolveSettings, deadline: Deadline) -> Plan:
    """The best alignment the backend can prove within ``settings`` by ``deadline`` (module
    docstring): the relaxation takes its share, the construction its share, the backend the
    rest; the time one phase leaves passes to the next.

    Raises
    ------
    InfeasibleError
        No plan meets every hard rule; its ``conflicts`` name the rules and amounts.
    NoPlanFoundError
        The time limit passed (or Ctrl-C came) before any plan was found.
    """
    if is_joint(scenario):  # hierarchy.design: joint: parents and plan in one MIP
        return solve_joint(scenario, settings, deadline)
    conflicts = quick_conflicts(scenario)
    if conflicts:
        raise InfeasibleError(conflicts)

    watch = Stopwatch()
    choice = choose(scenario, settings) if settings.backend == "auto" else None
    chosen = get_backend(choice.method if choice is not None else settings.backend,
                         n_pairs=scenario.n_items * scenario.n_territories)
    require_support(scenario, chosen.name)
    curve = _Curve(settings.progress, deadline)
    if deadline.work is not None and not chosen.capabilities.work_limit:
        raise TerritoryOptError(
            f"work_limit: the {chosen.name} backend has no deterministic work limit; use "
            "highs, heuristic or cpsat, or a time limit")
    if scenario.spec.objective.priorities:  # level by level (alignment/priorities.py)
        return solve_priorities(scenario, settings, deadline, chosen,
                                choice.as_dict() if choice is not None else None)
    pairs = offered_pairs(scenario, chosen, settings.candidates)
    warm_start = settings.warm_start
    options = SolveOptions(
        time_limit=deadline.seconds,
        gap=settings.gap,
        threads=settings.threads,
        seed=settings.seed,
        verbose=settings.verbose,
        progress=curve.record,
        stop=deadline.stop,
        work_limit=deadline.work,
    )
    curve.record(Progress(float("inf"), float("-inf"), deadline.elapsed(), phase="LP bound"))
    relaxation = _relax(scenario, pairs, options, deadline.share(RELAX_SHARE))
    if relaxation.status == Status.INFEASIBLE:
        raise InfeasibleError(_conflicts(relaxation, chosen, options, deadline))
    # The bound is known; the phase now running: the start plan, or the backend's own search.
    constructs = isinstance(warm_start, str) and warm_start == "construct"
    curve.record(Progress(float("inf"), relaxation.bound, deadline.elapsed(),
                          phase="start plan" if constructs else chosen.name))
    model = relaxation.model
    built = watch.seconds()
    # The heuristic builds its own plans from the relaxation; others get a warm start.
    construction = (None if isinstance(chosen, AlignmentBackend)
                    else _construct(model, relaxation, options, warm_start, deadline))
    start_x = _start_vector(model, construction, warm_start)
    rest = deadline.rest()
    sub = dataclasses.replace(options.within(rest), warm_start=start_x)
    if isinstance(chosen, AlignmentBackend):
        result = chosen.solve_alignment(model, relaxation, sub, rest)
    elif relaxation.x is None and not model.pairs.complete:
        # A restricted model without the LP's prices would only mislead the MIP.
        result = SolveResult(Status.NO_PLAN, None, float("inf"), float("-inf"), 0.0,
                             stop_reason="the LP relaxation was not solved in time")
    elif rest.over(0.1):
        result = SolveResult(Status.NO_PLAN, None, float("inf"), float("-inf"), 0.0,
                             stop_reason=deadline.limit_reason())
    else:
        result = chosen.solve(model.linear, sub)
        rest.spend(result.work)
    interrupted = deadline.interrupted
    solved = watch.seconds()

    checked_by: Backend | None = None
    cross_check = _needs_cross_check(model, chosen, result, interrupted)
    if cross_check and deadline.over(0.1):
        # No time left to confirm a claim about the user's scenario: an unconfirmed
        # "infeasible" is only "no plan found" (CBC said infeasible on the feasible demo at 0.5 s).
        if result.status == Status.INFEASIBLE:
            result = dataclasses.replace(
                result, status=Status.NO_PLAN,
                stop_reason=f"{chosen.name} said infeasible; no time left to confirm it")
    elif cross_check:
        # A solver's "infeasible" or "no plan" on a small model is a claim about the user's
        # scenario: CBC called feasible cases infeasible, CP-SAT found no plan on tiny ones.
        # HiGHS on the same model confirms it, or finds the plan that proves it wrong — in
        # the time left.
        checked_by = get_backend("highs")
        check = deadline.share(1.0, at_most=CROSS_CHECK_SECONDS)
        result = checked_by.solve(model.linear, dataclasses.replace(
            options.within(check), warm_start=None))
        solved = watch.seconds()
    if result.status == Status.INFEASIBLE and model.pairs.complete:
        raise InfeasibleError(_conflicts(relaxation, checked_by or chosen, options, deadline))
    if result.status == Status.ERROR:
        raise TerritoryOptError(f"{(checked_by or chosen).name} failed.\n{result.log[-2000:]}")
    assignment, objective, found_by = _best_plan(model, checked_by or chosen, result,
                                                 construction)
    if checked_by is not None and found_by == checked_by.name:
        found_by = f"highs, cross-checking {chosen.name}'s answer"
    if assignment is None:
        why = ("was interrupted" if interrupted
               else f"found no plan within the work limit {deadline.work:g}"
               if deadline.work is not None else f"found no plan within {deadline.seconds:g} s")
        raise NoPlanFoundError(
            f"{chosen.name} {why} ({model.linear.n_cols:,} variables, "
            f"{model.linear.n_rows:,} rows). Try a longer --time-limit, another --backend, "
            "looser balance tolerances, or soft balance rules (hard: false)."
        )
    bound, bound_source = _best_bound(result, relaxation, chosen)
    status, reason = stop_status(objective, bound, gap_target=options.gap,
                                 interrupted=interrupted,
                                 solver_optimal=result.status == Status.OPTIMAL,
                                 solver_reason=result.stop_reason or deadline.limit_reason())
    return Plan(
        scenario=scenario,
        assignment=assignment,
        status=status,
        bound=bound,
        bound_source=bound_source,
        backend=chosen.name,
        options={
            "time_limit": settings.time_limit,
            "work_limit": deadline.work,
            "gap": options.gap,
            "threads": options.threads,
            "seed": options.seed,
            "warm_start": settings.warm_start_name,
        },
        seconds={
            "relax": relaxation.seconds,
            "build": built - relaxation.seconds,
            "construct": construction.seconds if construction is not None else 0.0,
            "solve": result.seconds,
            "total": solved,
        },
        solver_objective=result.objective,
        scenario_digest=scenario.digest,
        stop_reason=reason,
        found_by=found_by,
        work=deadline.spent,
        choice=choice.as_dict() if choice is not None else None,
        anytime=curve.points(objective_terms(scenario, assignment).total, solved),
    )


ANYTIME_SHARES = (0.25, 0.5, 1.0)
"""Shares of the limit at which ``plan.json`` records the best objective so far."""


class _Curve:
    """The progress events of a solve, passed on to the caller's callback and kept for the
    anytime curve (the best objective by each share of the limit)."""

    def __init__(self, forward: Callable[[Progress], None] | None, deadline: Deadline) -> None:
        self.forward = forward
        self.deadline = deadline
        self.events: list[tuple[float, float]] = []

    def record(self, event: Progress) -> None:
        if np.isfinite(event.objective):
            self.events.append((self.deadline.elapsed(), float(event.objective)))
        if self.forward is not None:
            self.forward(event)

    def points(self, final: float, seconds: float) -> tuple[dict[str, float | None], ...]:
        """Per share of the limit (of the time the solve took, under a work limit): when,
        and the best objective found by then (None before the first plan; the final plan's
        objective at 100%: events report solver objectives, the plan is re-evaluated)."""
        limit = seconds if self.deadline.work is not None else self.deadline.seconds
        out = []
        for share in ANYTIME_SHARES:
            at = share * limit
            found = [objective for when, objective in self.events if when <= at]
            best = final if share == 1.0 else (min(found) if found else None)
            out.append({"share": share, "seconds": round(at, 3),
                        "objective": None if best is None else round(max(best, final), 6)})
        return tuple(out)


CROSS_CHECK_COLUMNS = 20_000
"""Models up to this many columns have a backend's "infeasible" or "no plan" checked by HiGHS."""

CROSS_CHECK_SECONDS = 10.0


def _needs_cross_check(model: AlignmentModel, backend: Backend, result: SolveResult,
                       interrupted: bool) -> bool:
    """Whether ``result`` is a "no plan exists" or "none found" on a model small enough for
    HiGHS to settle it quickly (and HiGHS did not give the answer itself)."""
    return (result.status in (Status.INFEASIBLE, Status.NO_PLAN) and not interrupted
            and backend.name != "highs" and model.pairs.complete
            and model.linear.n_cols <= CROSS_CHECK_COLUMNS)


def offered_pairs(scenario: Scenario, backend: Backend, candidates: int | None) -> PairSet:
    """Every allowed pair, or each item's ``candidates`` nearest territories.

    By default (``None``) exact backends get every pair up to :data:`ALL_PAIRS_LIMIT` item ×
    territory cells (their bounds then hold for the whole model) and the heuristic its
    :data:`DEFAULT_CANDIDATES` nearest; column generation adds whatever pair the LP wants.
    """
    cells = scenario.n_items * scenario.n_territories
    if candidates is None:
        limit = FULL_MIP_PAIRS if isinstance(backend, AlignmentBackend) else ALL_PAIRS_LIMIT
        if cells <= limit:
            return all_pairs(scenario)
        candidates = DEFAULT_CANDIDATES
    if candidates >= scenario.n_territories:
        return all_pairs(scenario)
    return nearest_pairs(scenario, candidates)


def _relax(scenario: Scenario, pairs: PairSet, options: SolveOptions, deadline: Deadline
           ) -> Relaxation:
    """Column generation (an LP solution and its bound) when it should fit in ``deadline``;
    otherwise — above :data:`LAGRANGE_CELLS` item × territory cells, where even the restricted
    LP takes minutes, or when the time is short for the LP's size — the Lagrangian bound by
    subgradient ascent (:mod:`territory_opt.alignment.lagrange`)."""
    cells = scenario.n_items * scenario.n_territories
    lp_seconds = LP_SECONDS_PER_CELL * cells
    if not pairs.complete and (cells > LAGRANGE_CELLS or lp_seconds > deadline.remaining()):
        return lagrangian_relaxation(scenario, pairs, options, deadline)
    return relax(scenario, pairs, options, deadline)


DIAGNOSIS_SECONDS = 5.0
"""The diagnosis of an infeasible scenario gets the time left, and at least this long (or the
whole limit, if shorter): an explanation is worth a few seconds past the limit."""


def _conflicts(relaxation: Relaxation, backend: Backend, options: SolveOptions,
               deadline: Deadline) -> list[Conflict]:
    """Why no plan exists: the full diagnosis on models that fit, else the rows the LP had to
    violate (column generation's phase 1). The diagnosis runs on time, not work: it changes
    the explanation, never the plan."""
    model = relaxation.model
    if model.pairs.complete:
        if isinstance(backend, AlignmentBackend):  # the probes are plain MIPs
            backend = get_backend("highs")
        left = 0.0 if deadline.work is not None else deadline.remaining()
        probe = Deadline(max(left, min(DIAGNOSIS_SECONDS, deadline.seconds)), stop=deadline.stop)
        return solver_conflicts(model.scenario, backend,
                                dataclasses.replace(options, work_limit=None).within(probe))
    return violation_conflicts(model.scenario, relaxation.violation)


def _construct(model: AlignmentModel, relaxation: Relaxation, options: SolveOptions,
               warm_start: WarmStart, deadline: Deadline) -> Construction | None:
    """The construction (first plan from the relaxation, briefly improved) by default."""
    if not (isinstance(warm_start, str) and warm_start == "construct"):
        return None
    first = construct(model, relaxation, options, deadline.share(CONSTRUCT_SHARE))
    if options.progress is not None and first.x is not None:
        options.progress(Progress(first.objective, relaxation.bound, deadline.elapsed(),
                                  phase="start plan"))
    return improve(model, relaxation, first, options, deadline.share(POLISH_SHARE))


def _start_vector(
    model: AlignmentModel, construction: Construction | None, warm_start: WarmStart
) -> np.ndarray | None:
    if isinstance(warm_start, np.ndarray):
        return model.start_vector(warm_start)
    if warm_start == "current":
        return model.start_vector(model.scenario.current)
    if warm_start == "construct" and construction is not None:
        return construction.x
    return None


def _best_plan(
    model: AlignmentModel,
    backend: Backend,
    result: SolveResult,
    construction: Construction | None,
) -> tuple[np.ndarray | None, float, str]:
    """The better of the backend's plan and the construction's, scored by the evaluator.

    Returns the assignment, its objective and who found it (the backend's name, or the
    construction's note). Ties go to the backend.
    """
    scenario = model.scenario
    candidates: list[tuple[float, int, np.ndarray, str]] = []
    if result.status.has_plan and result.x is not None:
        a = model.assignment(result.x)
        if (a != NO_TERRITORY).all():
            # The heuristic's log says which of its steps found the plan.
            who = (f"{backend.name} ({result.log})" if isinstance(backend, AlignmentBackend)
                   and result.log else backend.name)
            candidates.append((objective_terms(scenario, a).total, 0, a, who))
    if construction is not None and construction.x is not None and not (
            scenario.groups is not None and broken_groups(
                scenario.groups, a := model.assignment(construction.x), scenario.territory_ids)
    ) and not breaks_hierarchy(scenario, model.assignment(construction.x)):
        a = model.assignment(construction.x)
        candidates.append((objective_terms(scenario, a).total, 1, a,
                           f"construction ({construction.note})"))
    if not candidates:
        return None, float("inf"), ""
    objective, _, assignment, found_by = min(candidates, key=lambda c: (c[0], c[1]))
    return assignment, objective, found_by


def _best_bound(result: SolveResult, relaxation: Relaxation, backend: Backend
                ) -> tuple[float, str]:
    """The larger of the relaxation's bound and the backend's — the backend's only when its
    model held every allowed pair (a bound over fewer pairs is not valid for the whole) or
    the backend built it on the relaxation's."""
    complete = relaxation.model.pairs.complete
    options = [(relaxation.bound, "LP relaxation (HiGHS)" if complete
                else "LP relaxation (column generation over all pairs, HiGHS)")]
    if complete or isinstance(backend, AlignmentBackend):
        options.append((result.bound, result.bound_source or f"{result.status} bound"))
    bound, source = max(options, key=lambda b: b[0])
    return (bound, source) if np.isfinite(bound) else (float("-inf"), "none")
