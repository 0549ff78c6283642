"""Batch lead allocation: assign a batch of leads to reps for the most expected revenue.

The MILP is :func:`territory_opt.leads.model.build_batch`'s (its module docstring has the
formulation). Batches up to :data:`DIRECT_MIP_PAIRS` pairs go to the chosen backend whole;
larger ones to HiGHS by flow + column generation + rounding (:mod:`territory_opt.leads.large`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from territory_opt.backends.contract import (
    OPTIMALITY_GAP,
    Backend,
    Progress,
    SolveOptions,
    Status,
    relative_gap,
)
from territory_opt.backends.linear import LinearModel
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.errors import Conflict
from territory_opt.leads.kpis import lead_data
from territory_opt.leads.large import (
    FairnessTerms,
    flow_start,
    lagrangian_fairness,
    solve_large,
)
from territory_opt.leads.model import BatchModel, build_batch
from territory_opt.scenario.leads import NO_REP, period_start
from territory_opt.scenario.model import Scenario
from territory_opt.scenario.schema import Fairness

DIRECT_MIP_PAIRS = 20_000
"""Above this many pairs, HiGHS gets the flow + column generation + rounding path
(:mod:`territory_opt.leads.large`), not the whole MIP."""
LAGRANGE_SHARE = 0.3
"""Share of the deadline the Lagrangian of the fairness rows may use (large batches); the rest
goes to column generation and rounding."""
CONFLICT_SECONDS = 30.0
"""Seconds for the LP that measures a hard fairness band's least excess when the conflicts are
asked for outside a solve (``territory-opt validate``, :meth:`Family.conflicts`); inside a solve
it gets what is left of the solve's deadline."""
LEAD_BACKENDS = ("highs", "cpsat", "scip", "cbc")
"""Backends for the whole batch MILP; ``auto`` means HiGHS on it (the flow path above
:data:`DIRECT_MIP_PAIRS`), ``heuristic`` the flow path at every size."""


@dataclass(frozen=True, eq=False)
class Allocation:
    """A solved batch: rep per batch lead, with the proof."""

    leads: np.ndarray
    assignment: np.ndarray  # rep per lead of ``leads`` (NO_REP: not routed)
    objective: float  # −expected revenue + fairness penalty
    bound: float
    status: Status
    seconds: float
    log: str = ""
    method: str = "batch allocation MILP"  # or the large-batch path's name


def greedy_start(scenario: Scenario, batch: BatchModel,
                 used: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
    """A quick allocation: leads by value (highest first) to their best rep with capacity
    left. A warm start for the MILP (fairness is left to the solver)."""
    data = lead_data(scenario)
    m = scenario.n_territories
    period = (batch.period if batch.period is not None
              else data.period_of(data.created[batch.leads]))
    left: dict[int, np.ndarray] = {}
    out = np.full(len(batch.leads), NO_REP, dtype=np.int64)
    order = np.lexsort((-batch.expected, batch.pair_lead))  # per lead, best pair first
    starts = np.searchsorted(batch.pair_lead[order], np.arange(len(batch.leads) + 1))
    for position in np.argsort(-data.value[batch.leads], kind="stable").tolist():
        p = int(period[position])
        if p not in left:
            base = used[p] if used is not None and p in used else np.zeros(m)
            left[p] = data.capacity - base
        for column in order[starts[position]:starts[position + 1]].tolist():
            rep = int(batch.pair_rep[column])
            if left[p][rep] >= 1:
                out[position] = rep
                left[p][rep] -= 1
                break
    return out


def allocate(scenario: Scenario, leads: np.ndarray | None = None, *,
             backend: str | Backend = "highs", deadline: Deadline | None = None,
             time_limit: float = 60.0, gap: float = 1e-4,
             threads: int | None = None, seed: int = 0,
             lock: np.ndarray | None = None, used: Mapping[int, np.ndarray] | None = None,
             prior: np.ndarray | None = None, require_all: bool = True,
             fairness: Fairness | None = None, period: np.ndarray | None = None,
             value_factor: np.ndarray | None = None,
             progress: Callable[[Progress], None] | None = None) -> Allocation:
    """Build the batch (:func:`build_batch`), warm-start it greedily and solve it by
    ``deadline`` (without one: ``time_limit`` seconds from now, for a replay's windows and
    direct calls)."""
    started = Stopwatch()
    if deadline is None:
        deadline = Deadline(time_limit)
    # ``auto`` is HiGHS (an LP with a few side rows, solved exactly at this size); ``heuristic``
    # is the large-batch path below at any size, as the heuristic is for alignments.
    chosen = get_backend("highs" if backend in ("auto", "heuristic") else backend)
    batch = build_batch(scenario, leads, lock=lock, used=used, prior=prior,
                        require_all=require_all, fairness=fairness,
                        dense=chosen.name == "cpsat", period=period,
                        value_factor=value_factor)
    share = scenario.fte / scenario.fte.sum()
    if backend == "heuristic" or (chosen.name == "highs" and batch.n_pairs > DIRECT_MIP_PAIRS):
        large = _allocate_large(scenario, batch, used or {}, prior, require_all, fairness,
                                SolveOptions(gap=gap, threads=threads, seed=seed), deadline,
                                started)
        if large.status.has_plan and require_all and bool((large.assignment == NO_REP).any()):
            # Not a plan: a lead that must be routed is not (the rounding gave up on it).
            large = dataclasses.replace(large, status=Status.NO_PLAN)
        if (large.status.has_plan or large.status == Status.INFEASIBLE
                or deadline.remaining() < 1.0 or deadline.expired()):
            return large
        # A hard fairness band can cut every flow plan and leave the rounding MIP without
        # one: the whole MIP, with the time left, finds a plan or proves there is none.
    start = batch.vector(greedy_start(scenario, batch, used), fairness, prior, share)
    # The gap is relative to the revenue at stake: with fairness penalties the objective
    # (−revenue + penalty) can sit near 0, where a relative gap never closes.
    stake = float(_best_values(batch).sum())
    options = SolveOptions(gap=gap, threads=threads, seed=seed, progress=progress,
                           warm_start=start, abs_gap=gap * stake).within(deadline)
    result = chosen.solve(batch.model, options)
    return _allocation(batch, result.x, result.objective, result.bound, result.status,
                       started, result.log)


def _allocation(batch: BatchModel, x: np.ndarray | None, objective: float, bound: float,
                status: Status, started: Stopwatch, log: str) -> Allocation:
    """A solver's answer as an :class:`Allocation`; "optimal" when the bound proves it."""
    assignment = (batch.assignment(x) if x is not None
                  else np.full(len(batch.leads), NO_REP, dtype=np.int64))
    if status == Status.FEASIBLE and relative_gap(objective, bound) <= OPTIMALITY_GAP:
        status = Status.OPTIMAL
    return Allocation(batch.leads, assignment, objective, bound, status, started.seconds(),
                      log)


def _best_values(batch: BatchModel) -> np.ndarray:
    """Each batch lead's highest expected value over its pairs."""
    best = np.zeros(len(batch.leads))
    np.maximum.at(best, batch.pair_lead, batch.expected)
    return best


LARGE_METHOD = "flow, Lagrangian of the fairness rows, column generation, rounding MIP"
"""How the large-batch path finds its allocation (the plan's ``found_by``)."""


def _allocate_large(scenario: Scenario, batch: BatchModel,
                    used: Mapping[int, np.ndarray], prior: np.ndarray | None,
                    require_all: bool, fairness: Fairness | None, options: SolveOptions,
                    deadline: Deadline, started: Stopwatch) -> Allocation:
    """Flow start, the Lagrangian of the fairness rows (:data:`LAGRANGE_SHARE` of
    ``deadline``), column generation and rounding with the rest
    (:mod:`territory_opt.leads.large`)."""
    flow = flow_start(scenario, batch, used, require_all)
    if flow is None:
        return Allocation(batch.leads, np.full(len(batch.leads), NO_REP, dtype=np.int64),
                          np.inf, -np.inf, Status.INFEASIBLE, started.seconds(),
                          "no flow routes every lead within capacity", LARGE_METHOD)
    share = scenario.fte / scenario.fte.sum()
    log: list[str] = []
    bound, extra = -np.inf, None
    if fairness is not None:
        terms = FairnessTerms(fairness.tolerance, share,
                              np.inf if fairness.hard else fairness.penalty,
                              prior if prior is not None else np.zeros(len(share)))
        bound, extra, best = lagrangian_fairness(scenario, batch, used, require_all, terms,
                                                 deadline.share(LAGRANGE_SHARE), log)
        if best is not None:
            flow = best
    vector = batch.vector(flow, fairness, prior, share)
    feasible = fairness is None or not fairness.hard  # a hard band may cut the flow plan
    result = solve_large(batch, vector, options, deadline.rest(), start_feasible=feasible,
                         extra_columns=extra, bound=bound, log=log)
    return dataclasses.replace(
        _allocation(batch, result.x, result.objective, result.bound, result.status, started,
                    result.log), method=LARGE_METHOD)


def batch_conflicts(scenario: Scenario, leads: np.ndarray | None = None,
                    fairness: Fairness | None = None,
                    deadline: Deadline | None = None) -> list[Conflict]:
    """Why a batch that must route every lead cannot: leads nobody may take, owners with more
    owned leads than capacity, eligibility groups with more leads than their reps' capacity
    (per capacity period), and — when those hold — the least fairness excess (an LP, solved by
    ``deadline``; without one, in :data:`CONFLICT_SECONDS`)."""
    data = lead_data(scenario)
    leads = np.arange(scenario.n_items) if leads is None else np.asarray(leads, np.int64)
    out: list[Conflict] = []
    group, table = scenario.eligibility_groups
    lock = scenario.lock[leads]
    nobody = leads[(lock == NO_REP) & ~table[group[leads]].any(axis=1)]
    if len(nobody):
        shown = ", ".join(str(scenario.item_ids[i]) for i in nobody[:5])
        out.append(Conflict("eligibility", f"{len(nobody):,} lead(s) need skills no rep has "
                            f"(e.g. {shown}); " + _needs(scenario, int(nobody[0]))))
    period = data.period_of(data.created[leads])
    for p in np.unique(period).tolist():
        here = leads[period == p]
        owned = np.bincount(scenario.lock[here][scenario.lock[here] != NO_REP],
                            minlength=scenario.n_territories)
        for k in np.flatnonzero(owned > data.capacity):
            out.append(Conflict(f"ownership, capacity per {data.period}",
                                f"rep {scenario.territory_ids[k]} owns {owned[k]} leads of the "
                                f"{data.period} starting {period_start(data.period, p)} but "
                                f"takes {data.capacity[k]:g}"))
        free = here[scenario.lock[here] == NO_REP]
        groups, counts = np.unique(group[free], return_counts=True)
        for g, count in zip(groups.tolist(), counts.tolist(), strict=True):
            reps = np.flatnonzero(table[g])
            room = float(np.sum(data.capacity[reps] - owned[reps].clip(0)))
            if len(reps) and count > room:
                example = int(free[group[free] == g][0])
                out.append(Conflict(f"eligibility, capacity per {data.period}",
                                    f"{count:,} leads like {scenario.item_ids[example]} "
                                    f"({_tag_text(scenario, example)}) in the {data.period} "
                                    f"starting {period_start(data.period, p)}, but the "
                                    f"{len(reps)} reps who may take them have room for "
                                    f"{room:,.0f}"))
    if out or fairness is None or not fairness.hard:
        return out
    # Outside a solve (validate, Family.conflicts) no deadline is running: the LP gets a
    # fixed budget of its own.
    return _fairness_conflict(scenario, leads, fairness,
                              deadline if deadline is not None else Deadline(CONFLICT_SECONDS))


def _fairness_conflict(scenario: Scenario, leads: np.ndarray, fairness: Fairness,
                       deadline: Deadline) -> list[Conflict]:
    """The least expected value outside the fairness bands any allocation needs (LP bound on
    the elastic model), and the reps furthest out."""
    soft = Fairness(tolerance=fairness.tolerance, hard=False, penalty=1.0)
    batch = build_batch(scenario, leads, fairness=soft)
    model = batch.model
    c = np.zeros(model.n_cols)
    c[batch.slack_start:] = 1.0  # minimise the slack only
    relaxed = LinearModel(c=c, offset=0.0, lb=model.lb, ub=model.ub,
                          integer=np.zeros(model.n_cols, dtype=bool), a=sp.csr_array(model.a),
                          row_lo=model.row_lo, row_hi=model.row_hi)
    result = get_backend("highs").solve(relaxed, SolveOptions().within(deadline))
    if result.x is None:
        return []
    m = scenario.n_territories
    slack = result.x[batch.slack_start:]
    per_rep = slack[:m] + slack[m:]
    worst = np.argsort(-per_rep)[:3]
    shown = ", ".join(f"{scenario.territory_ids[k]} by {per_rep[k]:,.0f}" for k in worst
                      if per_rep[k] > 1e-6)
    return [Conflict(f"fairness ±{fairness.tolerance * 100:g}%, capacity, eligibility",
                     f"every allocation leaves at least {float(slack.sum()):,.0f} of expected "
                     f"value outside the reps' bands (LP bound; furthest: {shown}); widen "
                     "leads.fairness.tolerance or make it soft (hard: false)")]


def _needs(scenario: Scenario, lead: int) -> str:
    return f"lead {scenario.item_ids[lead]} needs {_tag_text(scenario, lead)}"


def _tag_text(scenario: Scenario, lead: int) -> str:
    values = [f"{tag} {scenario.tags[tag][lead]}" for tag in scenario.spec.rules.eligibility
              if scenario.tags[tag][lead]]
    return ", ".join(values) or "no skill"
