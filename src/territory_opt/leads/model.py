"""The batch model: the MILP of a batch of leads and how its columns map back to leads and reps.

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

Shared by the whole-MIP path (:mod:`territory_opt.leads.batch`) and the large-batch path
(:mod:`territory_opt.leads.large`), which is why it lives apart from both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from territory_opt.backends.linear import LinearModel, RowBuilder
from territory_opt.leads.kpis import lead_data
from territory_opt.scenario.leads import NO_REP
from territory_opt.scenario.model import Scenario, item_blocks
from territory_opt.scenario.schema import Fairness


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
