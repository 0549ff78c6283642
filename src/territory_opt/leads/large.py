"""Large batches: min-cost flow start, LP by column generation, then a MIP over the few leads
the LP splits.

HiGHS needs 24 s for the LP of 10,000 leads × 200 reps with every eligible pair (540,000
columns) and finds no MIP plan in minutes (presolve probing alone would take hours), while the
LP is nearly integral: without fairness it is a transportation problem, and each fairness row
splits at most a lead or two. So:

1. **Flow**: the allocation without fairness is a min-cost flow (leads → rep-periods → sink),
   solved exactly by OR-Tools in about a second. It is the start, and it proves a batch that
   must route every lead infeasible when no flow routes them all.
2. **Column generation**: the LP over each lead's best pairs plus the flow's, with HiGHS; the
   row duals price every allowed pair (``c − Aᵀy``) and the negative ones join, until none is
   left. The LP bound is then valid for the whole batch; if time runs out first, the
   Lagrangian bound of the last duals is reported instead (also valid).
3. **Rounding**: leads the LP routes whole keep their rep; a HiGHS MIP re-decides the leads it
   splits (with their pairs in the LP) and the fairness columns; the flow plan is the fallback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from territory_opt.backends.contract import SolveOptions, Status
from territory_opt.backends.linear import LinearModel, sub_model
from territory_opt.backends.registry import get_backend, lp_engine
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.leads.kpis import lead_data
from territory_opt.leads.model import BatchModel
from territory_opt.scenario.leads import NO_REP
from territory_opt.scenario.model import Scenario

BEST_PAIRS = 8
"""Each lead's best pairs (by expected value) in the first restricted LP."""
REP_LEADS_FACTOR = 3
"""Each rep's best leads in the first LP: this many times the leads per rep."""
MAX_NEW_COLUMNS = 50_000
"""Most negative reduced-cost pairs added per pricing round."""
COST_SCALE = 100.0
"""Flow costs are whole cents of expected value."""
FRACTIONAL = 1e-6
PRICED_CHUNKS = 500
"""Chunks of the online-priced primal pass (fairness), at most; at least 20 leads each."""
RATION_ROOM = 1.5
"""A chunk may use its proportional share of the capacity left times this."""
PRICE_STEP = 0.05
"""Step of its multipliers per chunk, per unit of relative band violation."""
MAX_ROUNDING_LEADS = 3_000
"""The rounding MIP re-decides the split leads and, up to this many, the leads of their reps."""
PRICING_SHARE = 0.6
"""Share of :func:`solve_large`'s deadline after which no more columns are priced in (the rest
is the rounding MIP's)."""
LP_SHARE = 0.8
"""Share of the time left one restricted LP may use."""


@dataclasses.dataclass(frozen=True)
class LargeResult:
    """A large batch's answer (see :func:`solve_large`)."""

    x: np.ndarray | None
    objective: float
    bound: float
    status: Status
    log: str


def flow_start(scenario: Scenario, batch: BatchModel, used: Mapping[int, np.ndarray],
               require_all: bool, value: np.ndarray | None = None) -> np.ndarray | None:
    """The batch's best allocation without fairness — most ``value`` (per pair; default the
    expected value) within capacity — as a rep per batch lead; None when no allocation
    routes every lead (``require_all``)."""
    value = batch.expected if value is None else value
    from ortools.graph.python import min_cost_flow

    data = lead_data(scenario)
    n, m = len(batch.leads), scenario.n_territories
    period = (batch.period if batch.period is not None
              else data.period_of(data.created[batch.leads]))
    periods, where = np.unique(period, return_inverse=True)
    slot = where[batch.pair_lead] * m + batch.pair_rep  # rep-period node of each pair
    slots = len(periods) * m
    left = np.repeat(data.capacity[None, :], len(periods), axis=0)
    for k, p in enumerate(periods.tolist()):
        if p in used:
            left[k] -= used[p]
    room = np.where(np.isfinite(left), np.maximum(left, 0), n).astype(np.int64).ravel()
    # Nodes: leads 0..n-1, rep-periods n..n+slots-1, sink.
    sink = n + slots
    tails = [batch.pair_lead, n + np.arange(slots)]
    heads = [n + slot, np.full(slots, sink)]
    caps = [np.ones(batch.n_pairs, np.int64), room]
    costs = [-np.round(value * COST_SCALE).astype(np.int64), np.zeros(slots, np.int64)]
    if not require_all:  # a lead may stay unrouted, at no gain
        tails.append(np.arange(n))
        heads.append(np.full(n, sink))
        caps.append(np.ones(n, np.int64))
        costs.append(np.zeros(n, np.int64))
    solver = min_cost_flow.SimpleMinCostFlow()
    arcs = solver.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails).astype(np.int32), np.concatenate(heads).astype(np.int32),
        np.concatenate(caps), np.concatenate(costs))
    supplies = np.concatenate([np.ones(n, np.int64), np.zeros(slots, np.int64), [-n]])
    solver.set_nodes_supplies(np.arange(n + slots + 1, dtype=np.int32), supplies)
    if solver.solve() != solver.OPTIMAL:
        return None
    chosen = np.flatnonzero(np.asarray(solver.flows(arcs[: batch.n_pairs])) > 0)
    out = np.full(n, NO_REP, dtype=np.int64)
    out[batch.pair_lead[chosen]] = batch.pair_rep[chosen]
    return out


@dataclasses.dataclass(frozen=True)
class FairnessTerms:
    """What the Lagrangian of the fairness rows needs: band, shares, penalty, and the
    expected value reps already have (a replay)."""

    tolerance: float
    share: np.ndarray
    penalty: float  # inf for a hard band
    prior: np.ndarray

    def gradient(self, by_rep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row activities (upper, lower; > 0 means outside the band) at ``by_rep``."""
        have = by_rep + self.prior
        whole = float(have.sum())
        return ((have - (1 + self.tolerance) * self.share * whole),
                ((1 - self.tolerance) * self.share * whole - have))


def lagrangian_fairness(scenario: Scenario, batch: BatchModel, used: Mapping[int, np.ndarray],
                        require_all: bool, terms: FairnessTerms, deadline: Deadline,
                        log: list[str]) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Relax the fairness rows: for multipliers ``λ`` (upper) and ``μ`` (lower) in
    ``[0, penalty]`` the batch is a min-cost flow with pair values ``ev × (1 − λ_j + μ_j +
    c)``, ``c = Σ_k s_k((1+τ)λ_k − (1−τ)μ_k)``, whose value bounds the optimum. Projected
    subgradient ascent (Polyak steps).

    Runs until ``deadline`` (each step, one flow, counts as a unit of its work) or the steps
    stop helping. Returns the best bound, the pairs any flow used (columns for the LP), and the
    best flow plan (a rep per batch lead) by the true objective, or None.
    """
    began = Stopwatch()
    m = len(terms.share)
    lam, mu = np.zeros(m), np.zeros(m)
    best_bound, best_plan, best_value = -np.inf, None, np.inf
    used_pairs = np.zeros(batch.n_pairs, dtype=bool)
    theta, stall = 1.0, 0
    while not deadline.expired():
        deadline.spend(1)
        c = float(terms.share @ ((1 + terms.tolerance) * lam - (1 - terms.tolerance) * mu))
        factor = 1.0 - lam[batch.pair_rep] + mu[batch.pair_rep] + c
        plan = flow_start(scenario, batch, used, require_all, batch.expected * factor)
        if plan is None:
            break
        chosen = _chosen_pairs(batch, plan)
        used_pairs[chosen] = True
        by_rep = np.bincount(batch.pair_rep[chosen], weights=batch.expected[chosen],
                             minlength=m)
        upper, lower = terms.gradient(by_rep)
        value = -float(by_rep.sum()) + float(lam @ upper + mu @ lower)
        excess = np.maximum(upper, 0) + np.maximum(lower, 0)
        primal = (-float(by_rep.sum()) + terms.penalty * float(excess.sum())
                  if np.isfinite(terms.penalty) else
                  (-float(by_rep.sum()) if excess.max(initial=0) <= 1e-9 else np.inf))
        if primal < best_value:
            best_value, best_plan = primal, plan
        if value > best_bound + 1e-9 * abs(value):
            best_bound, stall = value, 0
        else:
            stall += 1
            if stall >= 5:
                theta, stall = theta / 2, 0
        target = best_value if np.isfinite(best_value) else value + 0.05 * abs(value)
        norm = float(upper @ upper + lower @ lower)
        if norm <= 0 or target - value <= 1e-9 * abs(value) or theta < 1e-4:
            break
        step = theta * (target - value) / norm
        lam = np.clip(lam + step * upper, 0, terms.penalty)
        mu = np.clip(mu + step * lower, 0, terms.penalty)
    log.append(f"Lagrangian of the fairness rows: bound {best_bound:,.2f}, best flow plan "
               f"{best_value:,.2f}, {began.seconds():.1f} s")
    priced = priced_pass(scenario, batch, used, require_all, terms)
    if priced is not None:
        value = _fair_objective(batch, priced, terms)
        log.append(f"online-priced pass: {value:,.2f}")
        if value < best_value:
            best_value, best_plan = value, priced
            used_pairs[_chosen_pairs(batch, priced)] = True
    return best_bound, np.flatnonzero(used_pairs), best_plan


def _fair_objective(batch: BatchModel, plan: np.ndarray, terms: FairnessTerms) -> float:
    """−expected value + penalty × band excess of a plan (inf if it breaks a hard band)."""
    chosen = _chosen_pairs(batch, plan)
    by_rep = np.bincount(batch.pair_rep[chosen], weights=batch.expected[chosen],
                         minlength=len(terms.share))
    upper, lower = terms.gradient(by_rep)
    excess = float((np.maximum(upper, 0) + np.maximum(lower, 0)).sum())
    if not np.isfinite(terms.penalty):
        return -float(by_rep.sum()) if excess <= 1e-9 else np.inf
    return -float(by_rep.sum()) + terms.penalty * excess


def priced_pass(scenario: Scenario, batch: BatchModel, used: Mapping[int, np.ndarray],
                require_all: bool, terms: FairnessTerms, chunks: int = PRICED_CHUNKS
                ) -> np.ndarray | None:
    """A fair plan built the way the optimized replay keeps fairness: the leads in chunks
    (by creation time), each chunk a min-cost flow at the current prices, the multipliers
    stepped along the band violation so far; if leads are left, a last flow over the whole
    batch that keeps the chunks' choices where it can. None if no plan results."""
    data = lead_data(scenario)
    m = len(terms.share)
    cap = min(terms.penalty, 1.0)
    lam, mu = np.zeros(m), np.zeros(m)
    period = (batch.period if batch.period is not None
              else data.period_of(data.created[batch.leads]))
    loads = {int(p): np.array(used.get(int(p), np.zeros(m)), dtype=float)
             for p in np.unique(period)}
    plan = np.full(len(batch.leads), NO_REP, dtype=np.int64)
    have = terms.prior.copy()
    order = np.argsort(data.created[batch.leads], kind="stable")
    for members in np.array_split(order, max(1, min(chunks, len(order) // 20))):
        if not len(members):
            continue
        c = float(terms.share @ ((1 + terms.tolerance) * lam - (1 - terms.tolerance) * mu))
        sub = _sub_batch(batch, members, period)
        value = sub.expected * np.maximum(1.0 - lam[sub.pair_rep] + mu[sub.pair_rep] + c, 0)
        view = _rationed(loads, data.capacity, period, members, np.flatnonzero(plan == NO_REP))
        placed = flow_start(scenario, sub, view, False, value)
        if placed is None:
            return None
        ok = placed != NO_REP
        plan[members[ok]] = placed[ok]
        for p_, rep in zip(period[members[ok]].tolist(), placed[ok].tolist(), strict=True):
            loads[p_][rep] += 1
        chosen = _chosen_pairs(sub, placed)
        have += np.bincount(sub.pair_rep[chosen], weights=sub.expected[chosen], minlength=m)
        target = max(float(have.sum()), 1e-9) * terms.share
        lam = np.clip(lam + PRICE_STEP * (have - (1 + terms.tolerance) * target) / target,
                      0.0, cap)
        mu = np.clip(mu + PRICE_STEP * ((1 - terms.tolerance) * target - have) / target,
                     0.0, cap)
    if not require_all or (plan != NO_REP).all():
        return plan
    # Chunks took capacity a later lead needed: one flow over the whole batch that keeps the
    # chunks' choices unless a lead cannot be placed otherwise (a large bonus per kept pair).
    kept = np.zeros(batch.n_pairs)
    kept[_chosen_pairs(batch, plan)] = 1.0
    bonus = 10.0 * float(batch.expected.max(initial=1.0))
    return flow_start(scenario, batch, used, True, batch.expected + bonus * kept)


def _rationed(loads: Mapping[int, np.ndarray], capacity: np.ndarray, period: np.ndarray,
              members: np.ndarray, waiting: np.ndarray) -> dict[int, np.ndarray]:
    """Loads as a chunk should see them: each rep may use only its share of the capacity left
    in proportion to the chunk's part of the leads still waiting in that period (with some
    room), so early chunks leave capacity for the leads behind them."""
    out = {}
    for p, used in loads.items():
        share = (np.sum(period[members] == p) / max(np.sum(period[waiting] == p), 1))
        left = np.maximum(capacity - used, 0)
        room = np.ceil(np.minimum(left, left * share * RATION_ROOM))
        out[p] = np.where(np.isfinite(capacity), capacity - room, used)
    return out


def _sub_batch(batch: BatchModel, members: np.ndarray, period: np.ndarray) -> BatchModel:
    """The pairs of some batch leads, as a batch of its own (for a flow)."""
    position = np.full(len(batch.leads), -1, dtype=np.int64)
    position[members] = np.arange(len(members))
    keep = np.flatnonzero(position[batch.pair_lead] >= 0)
    return dataclasses.replace(batch, leads=batch.leads[members],
                               pair_lead=position[batch.pair_lead[keep]],
                               pair_rep=batch.pair_rep[keep], expected=batch.expected[keep],
                               n_pairs=len(keep), period=period[members])


def _chosen_pairs(batch: BatchModel, plan: np.ndarray) -> np.ndarray:
    """Pair indices of a rep-per-batch-lead plan."""
    m = int(batch.pair_rep.max()) + 2 if batch.n_pairs else 1
    key = batch.pair_lead * m + batch.pair_rep
    routed = np.flatnonzero(plan != NO_REP)
    return np.flatnonzero(np.isin(key, routed * m + plan[routed]))


def solve_large(batch: BatchModel, start_vector: np.ndarray, options: SolveOptions,
                deadline: Deadline, start_feasible: bool,
                extra_columns: np.ndarray | None = None, bound: float = -np.inf,
                log: list[str] | None = None) -> LargeResult:
    """Column generation and rounding (module docstring) by ``deadline`` from the flow's
    solution vector (``start_feasible``: it keeps every row, so it is the fallback plan);
    ``extra_columns`` join the first LP, ``bound`` is a bound already known (the
    Lagrangian's). ``options`` give the gap, threads and seed; the time comes from
    ``deadline``: pricing stops after :data:`PRICING_SHARE` of it, the rounding MIP has the
    rest."""
    import highspy

    began = Stopwatch()
    pricing = deadline.share(PRICING_SHARE)
    model = batch.model
    columns = sp.csc_array(model.a)
    keep = _first_columns(batch, start_vector)
    if extra_columns is not None:
        keep = np.union1d(keep, extra_columns)
    log = [] if log is None else log
    settings: dict[str, bool | int | float | str] = {"output_flag": False}
    if options.threads is not None:
        settings["threads"] = int(options.threads)
    lp = _restricted(model, columns, keep, integer=False)
    h = lp_engine().lp_session(lp, settings)
    y = np.zeros(model.n_rows)
    while True:
        h.setOptionValue("time_limit", LP_SHARE * deadline.remaining())
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            log.append(f"restricted LP: {h.getModelStatus()} after "
                       f"{began.seconds():.1f} s")
            break
        y = np.asarray(h.getSolution().row_dual)
        reduced = model.c - columns.T @ y
        bound = max(bound, _lagrangian_bound(model, y, reduced))
        present = np.zeros(model.n_cols, dtype=bool)
        present[keep] = True
        entering = np.flatnonzero((reduced < -1e-7 * max(1.0, float(np.abs(model.c).max())))
                                  & ~present)
        lp_value = float(h.getInfo().objective_function_value)
        log.append(f"LP {len(keep):,} columns: {lp_value:,.2f}; {len(entering):,} priced in; "
                   f"{began.seconds():.1f} s")
        if not len(entering):
            bound = max(bound, lp_value)  # no column prices out: the LP over every pair
            break
        if pricing.expired():
            log.append("pricing stopped by the time limit; bound: Lagrangian of the last duals")
            break
        entering = entering[np.argsort(reduced[entering])[:MAX_NEW_COLUMNS]]
        _add_columns(h, model, columns, entering)
        keep = np.concatenate([keep, entering])
    x_lp = np.zeros(model.n_cols)
    if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
        x_lp[keep] = np.asarray(h.getSolution().col_value)
    x = _round(batch, model, columns, keep, x_lp, start_vector, options, deadline, log,
               fallback=start_feasible)
    if x is None:
        return LargeResult(None, np.inf, bound, Status.NO_PLAN, "\n".join(log))
    objective = model.objective(x)
    return LargeResult(x, objective, min(bound, objective), Status.FEASIBLE, "\n".join(log))


def _first_columns(batch: BatchModel, start_vector: np.ndarray) -> np.ndarray:
    """Each lead's best pairs, each rep's best leads (fairness sends leads to reps that are
    nobody's best: without these the first LPs price in most of the model), the start's
    pairs, and every non-pair column (T, slacks)."""
    m = int(batch.pair_rep.max()) + 1 if batch.n_pairs else 1
    per_rep = max(REP_LEADS_FACTOR * len(batch.leads) // m, 20)
    chosen = np.flatnonzero(start_vector[: batch.n_pairs] > 0.5)
    pairs = np.union1d(_top(batch.pair_lead, batch.expected, BEST_PAIRS),
                       _top(batch.pair_rep, batch.expected, per_rep))
    pairs = np.union1d(pairs, chosen)
    return np.concatenate([pairs, np.arange(batch.n_pairs, batch.model.n_cols)])


def _top(owner: np.ndarray, value: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` highest-value entries of each ``owner`` (indices)."""
    order = np.lexsort((-value, owner))
    starts = np.searchsorted(owner[order], np.arange(int(owner.max(initial=-1)) + 2))
    rank = np.arange(len(owner)) - np.repeat(starts[:-1], np.diff(starts))
    return order[rank < count]


def _restricted(model: LinearModel, columns: sp.csc_array, keep: np.ndarray,
                integer: bool) -> LinearModel:
    return LinearModel(c=model.c[keep], offset=model.offset, lb=model.lb[keep],
                       ub=model.ub[keep],
                       integer=model.integer[keep] if integer else np.zeros(len(keep), bool),
                       a=sp.csr_array(columns[:, keep]), row_lo=model.row_lo,
                       row_hi=model.row_hi)


def _add_columns(h: object, model: LinearModel, columns: sp.csc_array,
                 entering: np.ndarray) -> None:
    block = sp.csc_array(columns[:, entering])
    h.addCols(len(entering), model.c[entering], model.lb[entering],  # type: ignore[attr-defined]
              model.ub[entering], block.nnz, block.indptr[:-1].astype(np.int32),
              block.indices.astype(np.int32), block.data)


def _lagrangian_bound(model: LinearModel, y: np.ndarray, reduced: np.ndarray) -> float:
    """``min over the bounds of c·x + yᵀ(b − Ax)``: each row at the side its dual prices,
    each column at the bound its reduced cost prefers (−inf if that bound is infinite)."""
    rhs = np.where(y > 0, model.row_lo, np.where(y < 0, model.row_hi, 0.0))
    if not np.all(np.isfinite(rhs[y != 0])):
        return -np.inf
    at = np.where(reduced < 0, model.ub, model.lb)
    if not np.all(np.isfinite(at[reduced != 0])):
        return -np.inf
    return float(y @ rhs + np.where(reduced != 0, reduced * at, 0.0).sum() + model.offset)


def _round(batch: BatchModel, model: LinearModel, columns: sp.csc_array, keep: np.ndarray,
           x_lp: np.ndarray, start_vector: np.ndarray, options: SolveOptions,
           deadline: Deadline, log: list[str], fallback: bool) -> np.ndarray | None:
    """Whole leads keep the LP's rep; a MIP re-decides the split ones (else the start, when
    it is a plan: ``fallback``)."""
    pairs = keep[keep < batch.n_pairs]
    split_pairs = pairs[(x_lp[pairs] > FRACTIONAL) & (x_lp[pairs] < 1 - FRACTIONAL)]
    split = np.unique(batch.pair_lead[split_pairs])
    log.append(f"LP splits {len(split):,} of {len(batch.leads):,} leads")
    # Re-decide the leads of the reps the split leads touch too, when few enough: a split
    # lead often balances its reps' bands, and whole leads of the same reps can trade places.
    touched = np.unique(batch.pair_rep[split_pairs])
    whole = pairs[(x_lp[pairs] >= 1 - FRACTIONAL) & np.isin(batch.pair_rep[pairs], touched)]
    neighbours = np.union1d(split, batch.pair_lead[whole])
    if len(neighbours) <= MAX_ROUNDING_LEADS:
        split = neighbours
    restricted = _restricted(model, columns, keep, integer=True)
    free = np.isin(batch.pair_lead[np.minimum(keep, batch.n_pairs - 1)], split) & (
        keep < batch.n_pairs)
    free |= keep >= batch.n_pairs  # T and the fairness slacks follow the leads
    fixed = np.round(x_lp[keep])
    piece = sub_model(restricted, free, fixed)
    result = get_backend("highs").solve(piece, dataclasses.replace(
        options, progress=None, warm_start=None).within(deadline))
    if result.x is None:
        log.append(f"rounding MIP: {result.status}" + ("; the flow start is kept" if fallback
                                                        else ""))
        return start_vector if fallback else None
    x = np.zeros(model.n_cols)
    x[keep] = fixed
    x[keep[free]] = result.x
    if fallback and model.objective(x) > model.objective(start_vector):
        log.append(f"rounding MIP worse than the flow start ({model.objective(x):,.2f} > "
                   f"{model.objective(start_vector):,.2f}, {result.status}); the start is kept")
        return start_vector
    log.append(f"rounding MIP over {int(free.sum()):,} columns: {result.status}")
    return x
