"""Batch lead allocation: assign a batch of leads to reps for the most expected revenue.

Variables: ``x[i, j]`` for each allowed (lead, rep) pair — eligible (the rep has the skills the
lead's tags need), or only the owner for an owned lead (ownership is a lock). Then::

    maximise   Σ ev[i, j] x[i, j]  −  penalty × Σ (fairness slack)          (ev = value × p)
    subject to Σ_j x[i, j] = 1             every lead routed (≤ 1 in a replay window)
               Σ_i x[i, j] ≤ capacity_j − used    per rep and capacity period of the leads
               T = Σ ev x;  (1 − τ) s_j T ≤ E_j(x) ≤ (1 + τ) s_j T   per rep (fairness)

with ``s_j = fte_j / Σ fte`` and ``E_j`` the rep's expected value (plus what it already has in
a replay, ``prior``). Fairness rows hold ``T`` as one variable, so each has only its rep's
pairs, not every pair. It is minimised as ``−revenue + penalty`` so every backend (HiGHS,
CP-SAT, SCIP, CBC) solves it as it is and the plan's bound is the backend's dual bound.
"""

from __future__ import annotations

import dataclasses
import time
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
from territory_opt.backends.linear import LinearModel, RowBuilder
from territory_opt.backends.registry import get_backend
from territory_opt.errors import Conflict
from territory_opt.leads.kpis import lead_data
from territory_opt.scenario.leads import NO_REP, period_start
from territory_opt.scenario.model import Scenario, item_blocks
from territory_opt.scenario.schema import Fairness

DIRECT_MIP_PAIRS = 20_000
"""Above this many pairs, HiGHS gets the flow + column generation + rounding path
(:mod:`territory_opt.leads.large`), not the whole MIP."""
LAGRANGE_SHARE = 0.3
"""Share of the time limit the Lagrangian of the fairness rows may use (large batches)."""
LEAD_BACKENDS = ("highs", "cpsat", "scip", "cbc")
"""Backends for the batch model (``auto`` and ``heuristic`` mean HiGHS: the model is an LP
with a few side rows, which HiGHS solves exactly at this size)."""


@dataclass(frozen=True, eq=False)
class BatchModel:
    """The MILP of a batch and how its columns map back to leads and reps."""

    model: LinearModel
    leads: np.ndarray  # the batch's lead indices
    pair_lead: np.ndarray  # per x column: position in ``leads``
    pair_rep: np.ndarray  # per x column: rep
    expected: np.ndarray  # per x column: expected value
    n_pairs: int  # x columns come first; then T (unless dense) and the fairness slacks
    has_total: bool = False  # a column T for the batch's total expected value
    period: np.ndarray | None = None  # capacity period per batch lead

    @property
    def slack_start(self) -> int:
        """First fairness slack column (soft fairness: m upper, then m lower)."""
        return self.n_pairs + int(self.has_total)

    def assignment(self, x: np.ndarray) -> np.ndarray:
        """Rep per batch lead from a solution vector (NO_REP where not routed)."""
        out = np.full(len(self.leads), NO_REP, dtype=np.int64)
        chosen = np.flatnonzero(x[: self.n_pairs] > 0.5)
        out[self.pair_lead[chosen]] = self.pair_rep[chosen]
        return out

    def vector(self, assignment: np.ndarray, fairness: Fairness | None,
               prior: np.ndarray | None, share: np.ndarray) -> np.ndarray:
        """A solution vector for a rep per batch lead (a warm start): x, T and the slacks
        that make the fairness rows hold."""
        x = np.zeros(self.model.n_cols)
        key = self.pair_lead * (len(share) + 1) + self.pair_rep
        wanted = np.flatnonzero(assignment != NO_REP) * (len(share) + 1) + assignment[
            assignment != NO_REP]
        x[: self.n_pairs] = np.isin(key, wanted)
        if fairness is None:
            return x
        by_rep = np.bincount(self.pair_rep, weights=self.expected * x[: self.n_pairs],
                             minlength=len(share))
        total = float(by_rep.sum())
        if self.has_total:
            x[self.n_pairs] = total
        if not fairness.hard:
            have = by_rep + (prior if prior is not None else 0.0)
            whole = total + (float(prior.sum()) if prior is not None else 0.0)
            m, start = len(share), self.slack_start
            x[start: start + m] = np.maximum(have - (1 + fairness.tolerance) * share * whole, 0)
            x[start + m:] = np.maximum((1 - fairness.tolerance) * share * whole - have, 0)
        return x


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


def build_batch(scenario: Scenario, leads: np.ndarray | None = None, *,
                lock: np.ndarray | None = None, used: Mapping[int, np.ndarray] | None = None,
                prior: np.ndarray | None = None, require_all: bool = True,
                fairness: Fairness | None = None, dense: bool = False,
                period: np.ndarray | None = None,
                value_factor: np.ndarray | None = None) -> BatchModel:
    """The batch MILP (module docstring) over ``leads`` (default: all).

    ``lock`` (per scenario lead, rep or NO_REP) replaces the scenario's owner locks; ``used``
    maps a capacity period to the leads each rep already has in it; ``prior`` is each rep's
    expected value so far (fairness over a replay); ``period`` is each batch lead's capacity
    period (default: the period it was created in; a replay routes late leads in a later one);
    ``require_all=False`` lets leads stay
    unrouted (a replay window, whose leftovers wait for the next). ``dense`` writes the
    fairness rows with ``T`` substituted (every pair in every row, no ``T`` column), for CP-SAT:
    its continuous columns may sit in one row only, and an equality with real coefficients
    cannot hold in its integer arithmetic. ``value_factor`` (per rep) scales each pair's
    value in the objective only: the prices an online fairness controller puts on reps.
    """
    data = lead_data(scenario)
    leads = np.arange(scenario.n_items) if leads is None else np.asarray(leads, np.int64)
    lock = scenario.lock if lock is None else lock
    m = scenario.n_territories
    pair_lead, pair_rep = _allowed_pairs(scenario, leads, lock)
    expected = data.expected_value(leads[pair_lead], pair_rep)
    n_pairs = len(pair_lead)
    has_total = fairness is not None and not dense
    slacks = 0 if fairness is None or fairness.hard else 2 * m
    extra = int(has_total) + slacks
    rows = RowBuilder(n_pairs + extra)
    cols = np.arange(n_pairs)
    rows.add("route each lead", pair_lead, cols, np.ones(n_pairs),
             np.full(len(leads), 1.0 if require_all else 0.0), np.ones(len(leads)))
    if period is None:
        period = data.period_of(data.created[leads])
    _capacity_rows(rows, period, pair_lead, pair_rep, data.capacity, used or {}, m)
    worth = expected if value_factor is None else expected * value_factor[pair_rep]
    c = np.concatenate([-worth, np.zeros(extra)])
    lb, ub = np.zeros(n_pairs + extra), np.ones(n_pairs + extra)
    if fairness is not None:
        _fairness_rows(rows, fairness, pair_rep, expected, scenario.fte / scenario.fte.sum(),
                       prior, n_pairs, dense)
        ub[n_pairs:] = np.inf
        c[n_pairs + int(has_total):] = fairness.penalty
    a, lo, hi, groups = rows.matrix()
    integer = np.zeros(n_pairs + extra, dtype=bool)
    integer[:n_pairs] = True
    model = LinearModel(c=c, offset=0.0, lb=lb, ub=ub, integer=integer, a=a, row_lo=lo,
                        row_hi=hi, row_groups=groups)
    return BatchModel(model, leads, pair_lead, pair_rep, expected, n_pairs, has_total,
                      np.asarray(period, dtype=np.int64))


def _allowed_pairs(scenario: Scenario, leads: np.ndarray, lock: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(position in ``leads``, rep) of every allowed pair: eligible, or the lock."""
    group, table = scenario.eligibility_groups
    positions, reps = [], []
    for block in item_blocks(len(leads), scenario.n_territories):
        rows = leads[block]
        ok = table[group[rows]].copy()
        locked = np.flatnonzero(lock[rows] != NO_REP)
        ok[locked, :] = False
        ok[locked, lock[rows][locked]] = True
        r, k = np.nonzero(ok)
        positions.append(r + block.start)
        reps.append(k)
    return (np.concatenate(positions).astype(np.int64),
            np.concatenate(reps).astype(np.int64))


def _capacity_rows(rows: RowBuilder, period: np.ndarray, pair_lead: np.ndarray,
                   pair_rep: np.ndarray, capacity: np.ndarray, used: Mapping[int, np.ndarray],
                   m: int) -> None:
    """One row per (capacity period, rep with a finite capacity) the batch's leads touch."""
    limited = np.isfinite(capacity[pair_rep])
    if not limited.any():
        return
    periods = np.unique(period)
    where = np.searchsorted(periods, period[pair_lead[limited]])
    key = where * m + pair_rep[limited]
    keys, row = np.unique(key, return_inverse=True)
    reps, on = keys % m, periods[keys // m]
    left = np.asarray([capacity[k] - (used[p][k] if p in used else 0.0)
                       for p, k in zip(on.tolist(), reps.tolist(), strict=True)])
    rows.add("capacity", row, np.flatnonzero(limited), np.ones(int(limited.sum())),
             np.full(len(keys), -np.inf), np.maximum(left, 0.0))


def _fairness_rows(rows: RowBuilder, fairness: Fairness, pair_rep: np.ndarray,
                   expected: np.ndarray, share: np.ndarray, prior: np.ndarray | None,
                   n_pairs: int, dense: bool = False) -> None:
    """T = Σ ev x, then per rep the band around its share of T (with soft slacks); with
    ``dense``, T substituted into the band rows."""
    m = len(share)
    t = n_pairs
    if not dense:
        rows.add("fairness total", np.zeros(n_pairs + 1, dtype=np.int64),
                 np.append(np.arange(n_pairs), t), np.append(-expected, 1.0), np.zeros(1),
                 np.zeros(1))
    have = prior if prior is not None else np.zeros(m)
    whole = float(have.sum())
    tau = fairness.tolerance
    for side, sign in (("upper", 1.0), ("lower", -1.0)):
        factor = (1 + tau) if sign > 0 else (1 - tau)
        if dense:  # E_j − factor s_j Σ_k E_k, no T
            r = np.concatenate([pair_rep, np.repeat(np.arange(m), n_pairs)])
            cols = np.concatenate([np.arange(n_pairs), np.tile(np.arange(n_pairs), m)])
            vals = np.concatenate([expected, np.outer(-factor * share, expected).ravel()])
        else:
            r = np.concatenate([pair_rep, np.arange(m)])
            cols = np.concatenate([np.arange(n_pairs), np.full(m, t)])
            vals = np.concatenate([expected, -factor * share])
        if not fairness.hard:  # upper: − u_j; lower: + l_j
            slack = t + int(not dense) + (0 if sign > 0 else m) + np.arange(m)
            r = np.concatenate([r, np.arange(m)])
            cols = np.concatenate([cols, slack])
            vals = np.concatenate([vals, np.full(m, -sign)])
        bound = factor * share * whole - have
        lo, hi = ((np.full(m, -np.inf), bound) if sign > 0 else (bound, np.full(m, np.inf)))
        rows.add(f"fairness {side}", r, cols, vals, lo, hi)


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
             backend: str | Backend = "highs", time_limit: float = 60.0, gap: float = 1e-4,
             threads: int | None = None, seed: int = 0,
             lock: np.ndarray | None = None, used: Mapping[int, np.ndarray] | None = None,
             prior: np.ndarray | None = None, require_all: bool = True,
             fairness: Fairness | None = None, period: np.ndarray | None = None,
             value_factor: np.ndarray | None = None,
             progress: Callable[[Progress], None] | None = None) -> Allocation:
    """Build the batch (:func:`build_batch`), warm-start it greedily and solve it."""
    started = time.perf_counter()
    chosen = get_backend("highs" if backend in ("auto", "heuristic") else backend)
    batch = build_batch(scenario, leads, lock=lock, used=used, prior=prior,
                        require_all=require_all, fairness=fairness,
                        dense=chosen.name == "cpsat", period=period,
                        value_factor=value_factor)
    share = scenario.fte / scenario.fte.sum()
    if chosen.name == "highs" and batch.n_pairs > DIRECT_MIP_PAIRS:
        return _allocate_large(scenario, batch, used or {}, prior, require_all,
                               fairness, SolveOptions(time_limit=time_limit, gap=gap,
                                                      threads=threads, seed=seed), started)
    start = batch.vector(greedy_start(scenario, batch, used), fairness, prior, share)
    # The gap is relative to the revenue at stake: with fairness penalties the objective
    # (−revenue + penalty) can sit near 0, where a relative gap never closes.
    stake = float(_best_values(batch).sum())
    options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, seed=seed,
                           progress=progress, warm_start=start, abs_gap=gap * stake)
    result = chosen.solve(batch.model, options)
    return _allocation(batch, result.x, result.objective, result.bound, result.status,
                       started, result.log)


def _allocation(batch: BatchModel, x: np.ndarray | None, objective: float, bound: float,
                status: Status, started: float, log: str) -> Allocation:
    """A solver's answer as an :class:`Allocation`; "optimal" when the bound proves it."""
    assignment = (batch.assignment(x) if x is not None
                  else np.full(len(batch.leads), NO_REP, dtype=np.int64))
    if status == Status.FEASIBLE and relative_gap(objective, bound) <= OPTIMALITY_GAP:
        status = Status.OPTIMAL
    return Allocation(batch.leads, assignment, objective, bound, status,
                      time.perf_counter() - started, log)


def _best_values(batch: BatchModel) -> np.ndarray:
    """Each batch lead's highest expected value over its pairs."""
    best = np.zeros(len(batch.leads))
    np.maximum.at(best, batch.pair_lead, batch.expected)
    return best


def _allocate_large(scenario: Scenario, batch: BatchModel,
                    used: Mapping[int, np.ndarray], prior: np.ndarray | None,
                    require_all: bool, fairness: Fairness | None, options: SolveOptions,
                    started: float) -> Allocation:
    """Flow start, column generation, rounding (:mod:`territory_opt.leads.large`)."""
    from territory_opt.leads.large import (
        FairnessTerms,
        flow_start,
        lagrangian_fairness,
        solve_large,
    )

    flow = flow_start(scenario, batch, used, require_all)
    if flow is None:
        return Allocation(batch.leads, np.full(len(batch.leads), NO_REP, dtype=np.int64),
                          np.inf, -np.inf, Status.INFEASIBLE, time.perf_counter() - started,
                          "no flow routes every lead within capacity")
    share = scenario.fte / scenario.fte.sum()
    log: list[str] = []
    bound, extra = -np.inf, None
    if fairness is not None:
        terms = FairnessTerms(fairness.tolerance, share,
                              np.inf if fairness.hard else fairness.penalty,
                              prior if prior is not None else np.zeros(len(share)))
        bound, extra, best = lagrangian_fairness(scenario, batch, used, require_all, terms,
                                                 LAGRANGE_SHARE * options.time_limit, log)
        if best is not None:
            flow = best
    vector = batch.vector(flow, fairness, prior, share)
    feasible = fairness is None or not fairness.hard  # a hard band may cut the flow plan
    left = max(options.time_limit - (time.perf_counter() - started), 1.0)
    result = solve_large(batch, vector, dataclasses.replace(options, time_limit=left),
                         start_feasible=feasible, extra_columns=extra, bound=bound, log=log)
    return _allocation(batch, result.x, result.objective, result.bound, result.status,
                       started, result.log)


def batch_conflicts(scenario: Scenario, leads: np.ndarray | None = None,
                    fairness: Fairness | None = None) -> list[Conflict]:
    """Why a batch that must route every lead cannot: leads nobody may take, owners with more
    owned leads than capacity, eligibility groups with more leads than their reps' capacity
    (per capacity period), and — when those hold — the least fairness excess (LP)."""
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
    return _fairness_conflict(scenario, leads, fairness)


def _fairness_conflict(scenario: Scenario, leads: np.ndarray, fairness: Fairness
                       ) -> list[Conflict]:
    """The least expected value outside the fairness bands any allocation needs (LP bound on
    the elastic model), and the reps furthest out."""
    from territory_opt.backends.highs import HighsBackend

    soft = Fairness(tolerance=fairness.tolerance, hard=False, penalty=1.0)
    batch = build_batch(scenario, leads, fairness=soft)
    model = batch.model
    c = np.zeros(model.n_cols)
    c[batch.slack_start:] = 1.0  # minimise the slack only
    relaxed = LinearModel(c=c, offset=0.0, lb=model.lb, ub=model.ub,
                          integer=np.zeros(model.n_cols, dtype=bool), a=sp.csr_array(model.a),
                          row_lo=model.row_lo, row_hi=model.row_hi)
    result = HighsBackend().solve(relaxed, SolveOptions(time_limit=30.0))
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
