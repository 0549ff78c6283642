"""Policy replay: route a lead history in time order under a policy, and score the result.

Policies:

- ``round-robin``: ownership, then eligible reps with capacity in turn (:class:`Router`);
- ``best-fit``: ownership, then the eligible rep with capacity and the highest expected value,
  ties in turn (:class:`Router`);
- ``optimized``: the leads of each window (``leads.window``, e.g. an hour) are allocated
  together by the batch model (:func:`~territory_opt.leads.batch.allocate`) with the capacity
  left in the period. Owned leads go to their owner while the owner has room. A lead the
  window cannot place (every eligible rep full) waits for the next window. Fairness, when the
  scenario sets it, is kept online by prices rather than by band rows in each window: a band
  over the whole history cannot be judged on an hour's leads, and those rows made each
  window's MIP hard for nothing (its LP spreads fractions of leads over every rep). Each rep's
  value is scaled by ``1 − λ_j + μ_j + c`` — the Lagrangian of the fairness rows
  (:func:`~territory_opt.leads.large.lagrangian_fairness`) — and after each window the
  multipliers take a step along the cumulative band violation (online primal-dual).

Every policy's allocation is scored by the same KPIs (:mod:`territory_opt.leads.kpis`), plus the
response time: from a lead's creation to its routing (the end of its window, for
``optimized``) and on to the rep's next shift where availability is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from territory_opt.backends.contract import Status
from territory_opt.deadline import Deadline, Stopwatch
from territory_opt.errors import TerritoryOptError
from territory_opt.leads.batch import allocate
from territory_opt.leads.kpis import evaluate_leads, lead_data
from territory_opt.leads.router import Router
from territory_opt.scenario.leads import NO_REP
from territory_opt.scenario.model import Scenario

Policy = Literal["round-robin", "best-fit", "optimized"]
POLICIES: tuple[Policy, ...] = ("round-robin", "best-fit", "optimized")
WINDOW_TIME_LIMIT = 10.0
"""Seconds the batch model may take per window of the optimized policy."""
FAIRNESS_STEP = 0.05
"""Step of the online fairness multipliers per window, per unit of relative band violation."""


@dataclass(frozen=True, eq=False)
class Replay:
    """One policy's allocation of the lead history."""

    policy: str
    assignment: np.ndarray  # rep per lead (NO_REP: never routed)
    routed_at: np.ndarray  # datetime64[s] per lead (NaT: never routed)
    seconds: float  # wall time of the replay
    windows: int = 0  # batch solves (optimized)
    proven_windows: int = 0  # of which proven optimal


def require_leads(scenario: Scenario) -> None:
    """Refuse a scenario without lead data: only a ``model: leads`` scenario can be replayed.

    Raises
    ------
    TerritoryOptError
        Naming the scenario's model.
    """
    if scenario.leads is None:
        raise TerritoryOptError(f"{scenario.path or scenario.name}: route needs a model: leads "
                                f"scenario (this one is model: {scenario.spec.model})")


def replay(scenario: Scenario, policy: str, *, window_seconds: float | None = None,
           backend: str = "highs", seed: int = 0) -> Replay:
    """Replay the scenario's leads under ``policy`` (module docstring)."""
    require_leads(scenario)
    if policy not in POLICIES:
        raise TerritoryOptError(f"unknown policy '{policy}'; expected one of "
                                f"{', '.join(POLICIES)}")
    if policy == "optimized":
        return _optimized(scenario, window_seconds, backend, seed)
    data = lead_data(scenario)
    started = Stopwatch()
    router = Router(scenario, "best-fit" if policy == "best-fit" else "round-robin")
    order = np.argsort(data.created, kind="stable")
    assignment = np.full(scenario.n_items, NO_REP, dtype=np.int64)
    for i in order.tolist():
        assignment[i] = router.route(i).rep
    routed_at = np.where(assignment != NO_REP, data.created, np.datetime64("NaT"))
    return Replay(policy, assignment, routed_at.astype("datetime64[s]"),
                  started.seconds())


def _optimized(scenario: Scenario, window_seconds: float | None, backend: str, seed: int
               ) -> Replay:
    """Window by window: owners first while they have room, then the batch model."""
    data = lead_data(scenario)
    spec = scenario.spec.leads
    assert spec is not None
    window = int(window_seconds if window_seconds is not None else data.window_seconds)
    m = scenario.n_territories
    fairness = spec.fairness
    share = scenario.fte / scenario.fte.sum()
    cap = (min(fairness.penalty, 1.0) if not fairness.hard else 1.0) if fairness else 0.0
    lam, mu = np.zeros(m), np.zeros(m)
    started = Stopwatch()
    created = data.created.astype(np.int64)
    order = np.argsort(created, kind="stable")
    assignment = np.full(scenario.n_items, NO_REP, dtype=np.int64)
    routed_at = np.full(scenario.n_items, np.datetime64("NaT"), dtype="datetime64[s]")
    used: dict[int, np.ndarray] = {}
    prior = np.zeros(m)
    waiting = np.zeros(0, dtype=np.int64)
    windows = proven = 0
    first = int(created[order[0]]) // window * window
    last = int(created[order[-1]])
    edges = np.arange(first, last + window + 1, window)
    bounds = np.searchsorted(created[order], edges)
    for w in range(len(edges) - 1):
        batch = np.concatenate([waiting, order[bounds[w]:bounds[w + 1]]])
        if not len(batch):
            continue
        end = np.datetime64(int(edges[w + 1]), "s")
        period = int(data.period_of(np.asarray([end]))[0])
        loads = used.setdefault(period, np.zeros(m))
        free = _route_owned(scenario, batch, loads, assignment)
        owned = batch[assignment[batch] != NO_REP]
        routed_at[owned] = end
        prior += np.bincount(assignment[owned], minlength=m,
                             weights=data.expected_value(owned, assignment[owned]))
        if len(free):
            windows += 1
            lock = np.full(scenario.n_items, NO_REP, dtype=np.int64)
            factor = None
            if fairness is not None:
                c = float(share @ ((1 + fairness.tolerance) * lam
                                   - (1 - fairness.tolerance) * mu))
                factor = np.maximum(1.0 - lam + mu + c, 0.0)
            # A replay has no limit of its own: each window's batch gets a deadline of its own.
            result = allocate(scenario, free, backend=backend,
                              deadline=Deadline(WINDOW_TIME_LIMIT),
                              seed=seed, lock=lock, used={period: loads},
                              require_all=False, value_factor=factor,
                              period=np.full(len(free), period, dtype=np.int64))
            proven += result.status == Status.OPTIMAL
            placed = result.assignment != NO_REP
            assignment[free[placed]] = result.assignment[placed]
            routed_at[free[placed]] = end
            np.add.at(loads, result.assignment[placed], 1)
            prior += np.bincount(result.assignment[placed],
                                 weights=data.expected_value(free[placed],
                                                             result.assignment[placed]),
                                 minlength=m)
            waiting = free[~placed]
        else:
            waiting = np.zeros(0, dtype=np.int64)
        if fairness is not None and prior.sum() > 0:
            target = prior.sum() * share
            upper = (prior - (1 + fairness.tolerance) * target) / target
            lower = ((1 - fairness.tolerance) * target - prior) / target
            lam = np.clip(lam + FAIRNESS_STEP * upper, 0.0, cap)
            mu = np.clip(mu + FAIRNESS_STEP * lower, 0.0, cap)
    return Replay("optimized", assignment, routed_at, started.seconds(),
                  windows, proven)


def _route_owned(scenario: Scenario, batch: np.ndarray, loads: np.ndarray,
                 assignment: np.ndarray) -> np.ndarray:
    """Give owned leads of ``batch`` to their owner while the owner has room (in time order);
    return the leads left for the window's allocation."""
    data = lead_data(scenario)
    free = []
    for i in batch.tolist():
        owner = int(scenario.lock[i])
        if owner != NO_REP and loads[owner] < data.capacity[owner]:
            assignment[i] = owner
            loads[owner] += 1
        else:
            free.append(i)
    return np.asarray(free, dtype=np.int64)


def replay_metrics(scenario: Scenario, result: Replay) -> dict[str, float]:
    """The policy's KPIs: the lead KPIs of its allocation, capacity breaches, and response
    times (hours) where they can be measured."""
    data = lead_data(scenario)
    evaluation = evaluate_leads(scenario, result.assignment, result.routed_at)
    keep = ("routed", "unrouted", "expected_revenue", "expected_wins", "conversion_rate",
            "avg_deal_size", "leads_max_min", "leads_cv", "value_max_min", "value_cv",
            "capacity_breaches", "fairness_max_abs_dev_pct")
    out = {key: evaluation.metrics[key] for key in keep if key in evaluation.metrics}
    routed = np.flatnonzero(result.assignment != NO_REP)
    wait = (result.routed_at[routed] - data.created[routed]).astype(np.int64).astype(float)
    if data.availability is not None and len(routed):
        wait = wait + data.availability.wait_seconds(result.assignment[routed],
                                                     result.routed_at[routed])
    if len(routed):
        hours = wait / 3600.0
        out["response_hours_mean"] = float(np.mean(hours))
        out["response_hours_p90"] = float(np.percentile(hours, 90))
    out["replay_seconds"] = result.seconds
    return out


def history_metrics(scenario: Scenario) -> dict[str, float]:
    """The classic sales KPIs of the recorded outcomes (what happened, whatever the policy):
    conversion rate of closed leads, average deal size and sales-cycle length of won ones."""
    data = lead_data(scenario)
    if data.outcome is None:
        return {}
    won, lost = data.outcome == 1, data.outcome == 0
    closed = int(won.sum() + lost.sum())
    out = {"closed_leads": float(closed),
           "conversion_rate": float(won.sum() / closed) if closed else float("nan")}
    if data.amount is not None and won.any():
        out["avg_deal_size"] = float(np.nanmean(data.amount[won]))
        out["won_revenue"] = float(np.nansum(data.amount[won]))
    if data.days_to_close is not None and won.any():
        out["sales_cycle_days"] = float(np.nanmean(data.days_to_close[won]))
    return out
