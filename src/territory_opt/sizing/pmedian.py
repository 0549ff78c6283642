"""Exact p-median solvers on HiGHS: uncapacitated (radius formulation) and capacitated.

Clients ``i``, candidate sites ``j``, a cost ``d[i, j]`` (distance, possibly weighted by the
client). Open ``p`` sites; every client goes to one open site.

* :func:`solve_pmedian` — uncapacitated: each client to its nearest open site. The default
  ``"radius"`` formulation (Elloumi 2010; García, Labbé & Marín 2011) works on each client's
  sorted *distinct* costs, which are far fewer than the sites when costs repeat, and is solved
  on a truncated ladder of radii that is lengthened only where the solution needs it (exact;
  see :func:`solve_pmedian`). ``"classic"`` is the textbook ``x_ij ≤ y_j`` model.
* :func:`solve_capacitated` — capacitated, single-sourcing: each client to exactly one open
  site, demand served by a site at most its capacity; optional forbidden pairs (a travel
  limit).

Both return a :class:`MedianResult` (objective, bound, gap, status, seconds, sites,
assignment). Every solve takes a time limit and a seed; given the same seed and thread count it
is deterministic (unless it is cut by the clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from territory_opt.backends.contract import SolveOptions, SolveResult, Status, relative_gap
from territory_opt.backends.linear import LinearModel
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline, Stopwatch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Formulation = Literal["radius", "classic"]

NO_SITE = -1
"""Assignment entry of a client that no open site serves (no plan, or a forbidden pair)."""


@dataclass(frozen=True, eq=False)
class MedianResult:
    """A p-median solve.

    Attributes
    ----------
    status : Status
        ``optimal`` (proven), ``feasible`` (a plan, not proven), ``infeasible`` (proven: no
        plan exists), ``no_plan`` (stopped by the limit without a plan) or ``error``.
    objective : float
        Cost of the plan (``inf`` without one).
    bound : float
        A valid lower bound on the optimum (``-inf`` if none).
    seconds : float
        Wall-clock time of the whole solve.
    sites : numpy.ndarray
        Sorted indices of the open sites (empty without a plan).
    assignment : numpy.ndarray
        Site index per client (:data:`NO_SITE` without a plan).
    method : str
        What was solved, e.g. ``"radius (3 rounds, 4,112 rows)"``.
    stop_reason : str
        Why the solver stopped.
    """

    status: Status
    objective: float
    bound: float
    seconds: float
    sites: IntArray
    assignment: IntArray
    method: str = ""
    stop_reason: str = ""
    rounds: list[dict[str, float]] = field(default_factory=list, repr=False)

    @property
    def gap(self) -> float:
        """``(objective − bound) / objective`` (0 when proven, ``inf`` without a plan)."""
        return relative_gap(self.objective, self.bound)

    @property
    def has_plan(self) -> bool:
        """Whether sites and an assignment come with the result."""
        return self.status.has_plan


def _highs(model: LinearModel, deadline: Deadline, seed: int, threads: int | None,
           verbose: bool) -> SolveResult:
    # gap 0: instances with integral costs are proven only once bound and plan meet (HiGHS
    # sees integral objectives itself and rounds its bound up). No warm start: with a MIP start
    # and presolve on, HiGHS 1.16.0 reported "optimal" below the true optimum on a radius
    # model (pmed4: 2998 for 3034, the start's value mis-mapped through presolve); the
    # starting plan is kept here as the incumbent instead and compared with HiGHS's.
    options = SolveOptions(gap=0.0, seed=seed, threads=threads,
                           verbose=verbose).within(deadline)
    return get_backend("highs").solve(model, options)


def _check(distance: npt.ArrayLike, p: int,
           weights: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    d = np.asarray(distance, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] == 0 or d.shape[1] == 0:
        raise ValueError(f"distance must be a non-empty clients × sites matrix, not {d.shape}")
    if not 1 <= p <= d.shape[1]:
        raise ValueError(f"p must be in 1..{d.shape[1]} (the number of sites), not {p}")
    w = np.ones(d.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (d.shape[0],) or (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be one finite, non-negative number per client")
    return d, w


def assign_nearest(cost: FloatArray, sites: npt.ArrayLike) -> tuple[IntArray, float]:
    """Each client's cheapest site among ``sites`` and the total cost (ties: lowest index)."""
    open_ = np.sort(np.asarray(sites, dtype=np.int64))
    sub = cost[:, open_]
    best = np.argmin(sub, axis=1)
    return open_[best].astype(np.int64), float(sub[np.arange(len(sub)), best].sum())


# --- a starting plan ---------------------------------------------------------------------------


def greedy_medians(cost: FloatArray, p: int, max_swaps: int = 10_000) -> IntArray:
    """A good p-median plan: greedy addition, then best-improvement swaps until none helps.

    Deterministic (ties go to the lowest index). It is the incumbent of the Lagrangian
    reduction tests: its quality only affects speed, never the answer.
    """
    chosen: list[int] = []
    current = np.full(cost.shape[0], np.inf)
    for _ in range(p):
        # The first site has no current cost to improve on: pick the 1-median.
        gain = (-cost.sum(axis=0) if not chosen
                else np.maximum(current[:, None] - cost, 0.0).sum(axis=0))
        gain[chosen] = -np.inf
        j = int(np.argmax(gain))
        chosen.append(j)
        current = np.minimum(current, cost[:, j])
    return swap_search(cost, np.asarray(chosen, dtype=np.int64), max_swaps)


def swap_search(cost: FloatArray, sites: IntArray, max_swaps: int = 10_000) -> IntArray:
    """Teitz–Bart interchange with the fast evaluation of every swap at once.

    Swapping open site ``r`` for closed site ``j`` changes the total by
    ``Σ_i min(d_ij, d1_i) − d1_i`` (every client may move to ``j``) plus, over the clients of
    ``r``, ``min(d_ij, d2_i) − min(d_ij, d1_i)`` (they lose ``r`` and fall back on their second
    site or ``j``): one clients × sites pass per swap. The best swap is made while it gains.
    """
    n, m = cost.shape
    sites = np.sort(sites)
    rows = np.arange(n)
    for _ in range(max_swaps):
        if sites.size == m:
            break
        sub = cost[:, sites]
        order = np.argsort(sub, axis=1, kind="stable")
        first = order[:, 0]
        d1 = sub[rows, first]
        d2 = sub[rows, order[:, 1]] if sites.size > 1 else np.full(n, np.inf)
        near = np.minimum(cost, d1[:, None])
        gain = (near - d1[:, None]).sum(axis=0)  # (m,) ≤ 0
        extra = np.minimum(cost, d2[:, None]) - near  # (n, m) ≥ 0
        loss = sp.csr_array((np.ones(n), (first, rows)), shape=(sites.size, n)) @ extra
        delta = gain[None, :] + loss  # (open k, site j)
        delta[:, sites] = np.inf
        k, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if delta[k, j] >= -1e-9 * max(1.0, float(d1.sum())):
            break
        sites = np.sort(np.concatenate([np.delete(sites, k), [j]]))
    return sites


# --- uncapacitated: Lagrangian bound and reduction ----------------------------------------------


@dataclass(frozen=True, eq=False)
class LagrangianBound:
    """The best bound of a subgradient ascent on the relaxed assignment rows.

    ``L(λ) = Σ_i λ_i + (sum of the p smallest rho_j)``, ``rho_j = Σ_i min(0, d_ij − λ_i)``: a lower
    bound for every ``λ``, whose maximum equals the LP bound (the subproblem has the
    integrality property).
    """

    value: float
    multipliers: FloatArray
    iterations: int


def lagrangian_bound(cost: FloatArray, p: int, upper: float, start: FloatArray, *,
                     max_iterations: int = 5_000,
                     deadline: Deadline | None = None) -> LagrangianBound:
    """Subgradient ascent (Held–Karp steps, Beasley 1993) from multipliers ``start``.

    Stops when the step factor has been halved below 1e-3, the bound meets ``upper``, or at
    ``deadline`` (default: none).
    """
    lam = np.asarray(start, dtype=np.float64).copy()
    best, best_lam, factor, stall = -np.inf, lam.copy(), 2.0, 0
    integral = _integral(cost)
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (the count is returned)
        rho = np.minimum(cost - lam[:, None], 0.0).sum(axis=0)
        chosen = np.argpartition(rho, p - 1)[:p]
        value = float(lam.sum() + rho[chosen].sum())
        if value > best + 1e-9:
            best, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= 30:  # no progress for a while: shorter steps
                factor, stall = factor / 2, 0
        if (factor < 1e-3 or _closed(best, upper, integral)
                or (deadline is not None and deadline.expired())):
            break
        # Subgradient: 1 − (open sites client i would take at these prices).
        g = 1.0 - (cost[:, chosen] < lam[:, None]).sum(axis=1)
        norm = float(g @ g)
        if norm == 0:  # the relaxed solution assigns every client once: optimal
            break
        lam = lam + factor * max(upper - value, 1e-9 * max(1.0, abs(upper))) / norm * g
    return LagrangianBound(best, best_lam, iterations)


def _integral(cost: FloatArray) -> bool:
    return bool(np.all(cost == np.round(cost)))


def _closed(bound: float, upper: float, integral: bool) -> bool:
    """Whether ``bound`` proves ``upper`` optimal (integral costs: the bound rounds up)."""
    if integral:
        bound = float(np.ceil(bound - 1e-6))
    return upper - bound <= 1e-9 * max(1.0, abs(upper))


def _reduce(cost: FloatArray, p: int, upper: float,
            lag: LagrangianBound) -> tuple[BoolArray, BoolArray, BoolArray]:
    """Pairs and sites that a plan cheaper than ``upper`` may use (Lagrangian reduction tests).

    At the multipliers ``λ``, forcing client ``i`` onto site ``j`` raises the Lagrangian bound
    by at least ``(d_ij − λ_i)⁺``, plus, if ``j`` is not among the ``p`` cheapest ``rho``, the
    price of opening it with the pair: ``rho_j + (d_ij − λ_i)⁺ − rho_[p]`` in all. A pair
    whose raised bound exceeds ``upper`` is in no better plan. Likewise a site whose opening
    (``rho_j − rho_[p]``) lifts the bound above ``upper`` is closed in every better plan, and a
    site of the relaxed solution whose closing (``rho_[p+1] − rho_j``) does is open in every
    better plan. Also, any ``p`` open sites include one of a client's ``m − p + 1`` nearest
    (pigeonhole), so farther sites never serve it.

    Returns ``allowed`` (clients × sites), ``fixed_open`` and ``fixed_closed`` (sites).
    """
    m = cost.shape[1]
    lam, bound = lag.multipliers, lag.value
    rho = np.minimum(cost - lam[:, None], 0.0).sum(axis=0)
    order = np.argsort(rho, kind="stable")
    chosen = np.zeros(m, dtype=bool)
    chosen[order[:p]] = True
    tol = 1e-7 * max(1.0, abs(upper))
    excess = np.maximum(cost - lam[:, None], 0.0)
    # j in the relaxed solution: only the excess; else j must displace the p-th cheapest site.
    raised = np.where(chosen[None, :], excess,
                      np.maximum(rho[None, :] + excess - rho[order[p - 1]], excess))
    allowed = bound + raised <= upper + tol
    nearest = np.partition(cost, m - p, axis=1)[:, m - p]
    allowed &= cost <= nearest[:, None]
    fixed_open = np.zeros(m, dtype=bool)
    if p < m:
        fixed_open = chosen & (bound - rho + rho[order[p]] > upper + tol)
    fixed_closed = ~chosen & (bound + rho - rho[order[p - 1]] > upper + tol)
    allowed[:, fixed_closed] = False
    return allowed, fixed_open, fixed_closed


# --- uncapacitated: the radius formulation ------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Ladders:
    """Per client: its distinct allowed costs in increasing order, and each site's rung."""

    levels: list[FloatArray]  # levels[i][k]: the (k+1)-th smallest distinct allowed cost
    rung: IntArray  # (clients, sites): index of cost[i, j] in levels[i]; -1 if not allowed


def _ladders(cost: FloatArray, allowed: BoolArray) -> _Ladders:
    rung = np.full(cost.shape, -1, dtype=np.int64)
    levels: list[FloatArray] = []
    for i in range(cost.shape[0]):
        sites = np.flatnonzero(allowed[i])
        values, inverse = np.unique(cost[i, sites], return_inverse=True)
        levels.append(values)
        rung[i, sites] = inverse
    return _Ladders(levels, rung)


def _radius_model(p: int, ladders: _Ladders, fixed_open: BoolArray,
                  closed: BoolArray) -> tuple[LinearModel, IntArray]:
    """The radius formulation over the allowed pairs.

    Client ``i`` has distinct allowed costs ``D_i^1 < … < D_i^K``. Columns: ``y_j`` (binary)
    then ``z_i^k``, ``k = 1..K−1`` ("no open site within ``D_i^k``"), continuous in [0, 1]
    (integral once ``y`` is). Rows, in cumulative form so that ``y_j`` appears once per client
    rather than once per radius (same LP bound, O(pairs) non-zeros)::

        z_i^1 + Σ_{j: d_ij = D_i^1} y_j ≥ 1
        z_i^k − z_i^{k−1} + Σ_{j: d_ij = D_i^k} y_j ≥ 0        k = 2..K−1
        − z_i^{K−1} + Σ_{j: d_ij = D_i^K} y_j ≥ 0                (served within D_i^K)
        Σ_j y_j = p

    Objective ``Σ_i D_i^1 + Σ_k (D_i^{k+1} − D_i^k) z_i^k``. Returns the model and, per client,
    the column of its first ``z``.
    """
    m = ladders.rung.shape[1]
    k = np.array([len(lv) - 1 for lv in ladders.levels], dtype=np.int64)
    first_z = m + np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
    n_cols = m + int(k.sum())
    c = np.zeros(n_cols)
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    lo: list[FloatArray] = []
    row = 0
    for i, lv in enumerate(ladders.levels):
        k_i, z0 = int(k[i]), int(first_z[i])
        c[z0:z0 + k_i] = np.diff(lv)
        sites = np.flatnonzero(ladders.rung[i] >= 0)
        steps = np.arange(k_i)
        rows += [row + ladders.rung[i, sites], row + steps, row + 1 + steps]
        cols += [sites, z0 + steps, z0 + steps]
        vals += [np.ones(sites.size), np.ones(k_i), -np.ones(k_i)]
        lo.append(np.r_[1.0, np.zeros(k_i)])
        row += k_i + 1
    rows.append(np.full(m, row))
    cols.append(np.arange(m))
    vals.append(np.ones(m))
    a = sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                     shape=(row + 1, n_cols))
    integer = np.zeros(n_cols, dtype=bool)
    integer[:m] = True
    lb, ub = np.zeros(n_cols), np.ones(n_cols)
    lb[:m][fixed_open] = 1.0
    ub[:m][closed] = 0.0
    model = LinearModel(c=c, offset=float(sum(lv[0] for lv in ladders.levels)), lb=lb, ub=ub,
                        integer=integer, a=a, row_lo=np.r_[np.concatenate(lo), p],
                        row_hi=np.r_[np.full(row, np.inf), p])
    return model, first_z


def _solve_radius(cost: FloatArray, p: int, deadline: Deadline, seed: int,
                  threads: int | None, verbose: bool, started: Stopwatch,
                  reduce: bool) -> MedianResult:
    n, m = cost.shape
    sites = greedy_medians(cost, p)
    assignment, upper = assign_nearest(cost, sites)
    integral = _integral(cost)
    if not reduce:  # the radius model over every pair (the pigeonhole cut only)
        nearest = np.partition(cost, m - p, axis=1)[:, m - p]
        allowed, none = cost <= nearest[:, None], np.zeros(m, dtype=bool)
        return _radius_mip(cost, p, allowed, none, none, sites, upper, -np.inf, np.inf,
                           {}, deadline, seed, threads, verbose, started)
    # Start the ascent at each client's cost in the plan: close to the LP duals.
    lag = lagrangian_bound(cost, p, upper, cost[np.arange(n), assignment],
                           deadline=deadline.share(LAGRANGE_SHARE))
    bound = float(np.ceil(lag.value - 1e-6)) if integral else lag.value
    info = {"lagrangian": lag.value, "iterations": float(lag.iterations),
            "seconds": started.seconds()}
    if _closed(bound, upper, integral):
        return _result(Status.OPTIMAL, cost, sites, upper, upper, started, [info],
                       "proven optimal", "heuristic + Lagrangian bound")
    allowed, fixed_open, closed = _reduce(cost, p, upper, lag)
    info |= {"pairs": float(allowed.sum()), "sites": float((~closed).sum()),
             "fixed_open": float(fixed_open.sum())}
    if not allowed.any(axis=1).all() or (~closed).sum() < p or fixed_open.sum() > p:
        # Some client has no site a cheaper plan could serve it from: the plan is optimal.
        return _result(Status.OPTIMAL, cost, sites, upper, upper, started, [info],
                       "proven optimal", "heuristic + Lagrangian reduction")
    return _radius_mip(cost, p, allowed, fixed_open, closed, sites, upper, bound, upper, info,
                       deadline, seed, threads, verbose, started)


def _radius_mip(cost: FloatArray, p: int, allowed: BoolArray, fixed_open: BoolArray,
                closed: BoolArray, sites: IntArray, upper: float, bound: float,
                reduced_upper: float, info: dict[str, float], deadline: Deadline, seed: int,
                threads: int | None, verbose: bool, started: Stopwatch) -> MedianResult:
    """HiGHS on the radius model over ``allowed``; ``reduced_upper`` is the incumbent value
    the pairs were reduced against (a plan outside them costs more)."""
    integral = _integral(cost)
    ladders = _ladders(cost, allowed)
    model, _ = _radius_model(p, ladders, fixed_open, closed)
    res = _highs(model, deadline, seed, threads, verbose)
    info |= {"rows": float(model.n_rows), "cols": float(model.n_cols),
             "mip_seconds": res.seconds, "mip_bound": res.bound}
    if res.status == Status.ERROR:
        return _result(Status.ERROR, cost, sites, upper, bound, started, [info],
                       res.stop_reason, "radius")
    if res.x is not None:
        found = np.flatnonzero(res.x[:cost.shape[1]] > 0.5)
        _, true_cost = assign_nearest(cost, found)  # ≤ the model's cost
        if true_cost < upper - 1e-9:
            sites, upper = found, true_cost
    # A plan outside the allowed pairs costs more than the upper bound of the reduction.
    if res.status == Status.INFEASIBLE:
        bound = max(bound, reduced_upper)
    elif np.isfinite(res.bound):
        bound = max(bound, min(reduced_upper, res.bound))
    status = Status.OPTIMAL if _closed(bound, upper, integral) else Status.FEASIBLE
    reason = "proven optimal" if status == Status.OPTIMAL else (res.stop_reason or "time limit")
    method = (f"radius on {int(allowed.sum()):,} of {allowed.size:,} pairs "
              f"({model.n_rows:,} rows)")
    return _result(status, cost, sites, upper, min(bound, upper), started, [info], reason,
                   method)


def _result(status: Status, cost: FloatArray, sites: IntArray, upper: float, bound: float,
            started: Stopwatch, rounds: list[dict[str, float]], reason: str,
            method: str) -> MedianResult:
    assignment, _ = assign_nearest(cost, sites)
    return MedianResult(status=status, objective=upper, bound=bound,
                        seconds=started.seconds(), sites=np.sort(sites),
                        assignment=assignment, method=method, stop_reason=reason,
                        rounds=rounds)


# --- uncapacitated: the classic formulation -----------------------------------------------------


def _classic_model(cost: FloatArray, p: int) -> LinearModel:
    """``min Σ d_ij x_ij``: ``Σ_j x_ij = 1``, ``x_ij ≤ y_j``, ``Σ y_j = p``; x continuous."""
    n, m = cost.shape
    nx = n * m
    i = np.repeat(np.arange(n), m)
    j = np.tile(np.arange(m), n)
    x = np.arange(nx)
    rows = np.concatenate([i, n + x, n + x, np.full(m, n + nx)])
    cols = np.concatenate([x, x, nx + j, nx + np.arange(m)])
    vals = np.concatenate([np.ones(nx), np.ones(nx), -np.ones(nx), np.ones(m)])
    a = sp.csr_array((vals, (rows, cols)), shape=(n + nx + 1, nx + m))
    integer = np.zeros(nx + m, dtype=bool)
    integer[nx:] = True
    return LinearModel(c=np.concatenate([cost.ravel(), np.zeros(m)]), offset=0.0,
                       lb=np.zeros(nx + m), ub=np.ones(nx + m), integer=integer, a=a,
                       row_lo=np.concatenate([np.ones(n), np.full(nx, -np.inf), [p]]),
                       row_hi=np.concatenate([np.ones(n), np.zeros(nx), [p]]))


def _solve_classic(cost: FloatArray, p: int, deadline: Deadline, seed: int, threads: int | None,
                   verbose: bool, started: Stopwatch) -> MedianResult:
    n, m = cost.shape
    sites = greedy_medians(cost, p)
    _, upper = assign_nearest(cost, sites)
    model = _classic_model(cost, p)
    res = _highs(model, deadline, seed, threads, verbose)
    if res.x is not None:
        found = np.flatnonzero(res.x[n * m:] > 0.5)
        _, true_cost = assign_nearest(cost, found)
        if true_cost < upper - 1e-9:
            sites, upper = found, true_cost
    bound = res.bound if np.isfinite(res.bound) else -np.inf
    if res.status == Status.ERROR:
        status = Status.ERROR
    else:
        status = Status.OPTIMAL if _closed(bound, upper, _integral(cost)) else Status.FEASIBLE
    info = {"rows": float(model.n_rows), "cols": float(model.n_cols), "mip_seconds": res.seconds,
            "mip_bound": res.bound}
    reason = "proven optimal" if status == Status.OPTIMAL else res.stop_reason
    return _result(status, cost, sites, upper, min(bound, upper), started, [info], reason,
                   f"classic x_ij ≤ y_j ({model.n_cols:,} columns)")


def solve_pmedian(distance: npt.ArrayLike, p: int, *, weights: npt.ArrayLike | None = None,
                  time_limit: float = 60.0, seed: int = 0, threads: int | None = None,
                  formulation: Formulation = "radius", reduce: bool = True,
                  verbose: bool = False, deadline: Deadline | None = None) -> MedianResult:
    """Uncapacitated p-median: open ``p`` sites, each client to its nearest, minimise the total.

    ``"radius"`` (default): a starting plan (greedy + swaps), a Lagrangian bound (subgradient
    ascent), the Lagrangian reduction tests (pairs and sites no cheaper plan can use, see
    :func:`_reduce`), then HiGHS on the radius formulation over the remaining pairs
    (:func:`_radius_model`). ``"classic"``: HiGHS on ``x_ij ≤ y_j`` over all pairs, no
    reduction (the textbook model, for comparison); the starting plan is kept as incumbent.

    Parameters
    ----------
    distance : array-like
        ``(clients, sites)`` costs, finite.
    p : int
        Sites to open, ``1 ≤ p ≤ sites``.
    weights : array-like, optional
        Per client, multiplies its row of ``distance`` (default 1).
    time_limit : float
        Seconds for the whole solve.
    seed : int
        HiGHS's random seed.
    threads : int, optional
        HiGHS threads (default: HiGHS's).
    formulation : {"radius", "classic"}
    reduce : bool
        ``"radius"`` only: apply the Lagrangian bound and reduction (default). Without it the
        radius model covers every pair (less the pigeonhole cut) and HiGHS does all the work.
    verbose : bool
        Print HiGHS's log.
    deadline : Deadline, optional
        When the whole solve must end (its stop signal ends it too); default: ``time_limit``
        seconds from now.

    Returns
    -------
    MedianResult

    Raises
    ------
    ValueError
        For a malformed matrix, ``p`` or weights.
    """
    started = Stopwatch()
    deadline = deadline if deadline is not None else Deadline(time_limit)
    d, w = _check(distance, p, weights)
    if not np.isfinite(d).all():
        raise ValueError("distance must be finite (every client can reach every site)")
    cost = d * w[:, None]
    if formulation == "radius":
        return _solve_radius(cost, p, deadline, seed, threads, verbose, started, reduce)
    if formulation == "classic":
        return _solve_classic(cost, p, deadline, seed, threads, verbose, started)
    raise ValueError(f"formulation must be 'radius' or 'classic', not {formulation!r}")


# --- capacitated (single-sourcing) ------------------------------------------------------------


def capacitated_model(cost: FloatArray, demand: FloatArray, capacity: FloatArray, p: int,
                      allowed: BoolArray) -> tuple[LinearModel, IntArray, IntArray]:
    """The single-sourcing capacitated p-median over the ``allowed`` pairs.

    Columns: ``x_ij`` for the allowed pairs (binary), then ``y_j`` (binary)::

        min Σ c_ij x_ij
        Σ_j x_ij = 1                   every client served once
        Σ_i q_i x_ij ≤ Q_j y_j         capacity of an open site (none if closed)
        x_ij ≤ y_j                     implied, but tightens the LP bound a lot
        Σ_j y_j = p

    Returns the model and the client and site of each ``x`` column.
    """
    n, m = cost.shape
    ci, cj = np.nonzero(allowed)
    nx = ci.size
    x = np.arange(nx)
    rows = np.concatenate([ci, n + cj, n + m + x, n + m + x,
                           n + cj[:0], np.full(m, n + m + nx), n + np.arange(m)])
    cols = np.concatenate([x, x, x, nx + cj, x[:0], nx + np.arange(m), nx + np.arange(m)])
    vals = np.concatenate([np.ones(nx), demand[ci], np.ones(nx), -np.ones(nx), [],
                           np.ones(m), -capacity])
    a = sp.csr_array((vals, (rows, cols)), shape=(n + m + nx + 1, nx + m))
    row_lo = np.concatenate([np.ones(n), np.full(m + nx, -np.inf), [p]])
    row_hi = np.concatenate([np.ones(n), np.zeros(m + nx), [p]])
    model = LinearModel(c=np.concatenate([cost[ci, cj], np.zeros(m)]), offset=0.0,
                        lb=np.zeros(nx + m), ub=np.ones(nx + m),
                        integer=np.ones(nx + m, dtype=bool), a=a, row_lo=row_lo,
                        row_hi=row_hi)
    return model, ci.astype(np.int64), cj.astype(np.int64)


def solve_capacitated(distance: npt.ArrayLike, demand: npt.ArrayLike,
                      capacity: float | npt.ArrayLike, p: int, *,
                      weights: npt.ArrayLike | None = None,
                      allowed: npt.ArrayLike | None = None, time_limit: float = 60.0,
                      seed: int = 0, threads: int | None = None,
                      verbose: bool = False, deadline: Deadline | None = None) -> MedianResult:
    """Capacitated p-median with single sourcing, exact by HiGHS (see
    :func:`capacitated_model`).

    Parameters
    ----------
    distance : array-like
        ``(clients, sites)`` costs; pairs that are not ``allowed`` may be ``inf``.
    demand : array-like
        ``(clients,)`` demand ``q_i`` (≥ 0).
    capacity : float or array-like
        ``Q``, the same for every site, or one per site.
    p : int
        Sites to open.
    weights : array-like, optional
        Per client, multiplies its row of ``distance`` in the objective (default 1).
    allowed : array-like of bool, optional
        ``(clients, sites)``: pairs that may be used (default: every finite one).
    time_limit, seed, threads, verbose, deadline
        As for :func:`solve_pmedian`.

    Returns
    -------
    MedianResult
        ``infeasible`` when HiGHS proves that no plan exists.

    Raises
    ------
    ValueError
        For malformed inputs.
    """
    started = Stopwatch()
    deadline = deadline if deadline is not None else Deadline(time_limit)
    d, w = _check(np.where(np.isfinite(distance), distance, 0.0), p, weights)
    d = np.asarray(distance, dtype=np.float64)
    n, m = d.shape
    q = np.asarray(demand, dtype=np.float64)
    cap = np.broadcast_to(np.asarray(capacity, dtype=np.float64), (m,)).copy()
    if q.shape != (n,) or (q < 0).any() or not np.isfinite(q).all():
        raise ValueError("demand must be one finite, non-negative number per client")
    if (cap < 0).any() or not np.isfinite(cap).all():
        raise ValueError("capacity must be finite and non-negative")
    ok = np.isfinite(d) if allowed is None else np.asarray(allowed, dtype=bool) & np.isfinite(d)
    if ok.shape != d.shape:
        raise ValueError(f"allowed must have the shape of distance {d.shape}")
    # A client can only go where it fits even alone.
    ok &= q[:, None] <= cap[None, :] + 1e-9
    cost = np.where(ok, d, 0.0) * w[:, None]
    if not ok.any(axis=1).all():
        return MedianResult(Status.INFEASIBLE, np.inf, np.inf, started.seconds(),
                            np.zeros(0, dtype=np.int64), np.full(n, NO_SITE, dtype=np.int64),
                            "capacitated", "a client has no allowed site")
    # Most of the time to HiGHS; what is left polishes a plan it could not prove optimal.
    model, ci, cj = capacitated_model(cost, q, cap, p, ok)
    res = _highs(model, deadline.share(POLISH_SHARE_KEPT), seed, threads, verbose)
    method = f"capacitated single-sourcing ({ci.size:,} pairs)"
    if res.x is None:
        return MedianResult(res.status, np.inf, res.bound, started.seconds(),
                            np.zeros(0, dtype=np.int64), np.full(n, NO_SITE, dtype=np.int64),
                            method, res.stop_reason)
    nx = ci.size
    sites = np.flatnonzero(res.x[nx:] > 0.5).astype(np.int64)
    assignment = np.full(n, NO_SITE, dtype=np.int64)
    used = res.x[:nx] > 0.5
    assignment[ci[used]] = cj[used]
    objective = float(cost[np.arange(n), assignment].sum())
    integral = _integral(cost)
    status, reason = res.status, res.stop_reason
    if status == Status.OPTIMAL and not _closed(res.bound, objective, integral):
        status = Status.FEASIBLE
    if status == Status.FEASIBLE:
        sites, assignment, polished = locate_allocate(cost, q, cap, ok, sites, assignment,
                                                      deadline, seed, threads)
        if polished < objective - 1e-9:
            method += f"; locate–allocate {objective:,.6g} → {polished:,.6g}"
            objective = polished
            if _closed(res.bound, objective, integral):
                status, reason = Status.OPTIMAL, "proven optimal"
    return MedianResult(status, objective, min(res.bound, objective),
                        started.seconds(), sites, assignment, method, reason)


POLISH_SHARE_KEPT = 0.75
"""Share of a capacitated solve's time limit HiGHS gets; the rest polishes its plan."""
LAGRANGE_SHARE = 0.5
"""Share of an uncapacitated radius solve's deadline the Lagrangian ascent may use."""


def _assign(cost: FloatArray, demand: FloatArray, capacity: FloatArray, ok: BoolArray,
            sites: IntArray, deadline: Deadline, seed: int,
            threads: int | None) -> tuple[IntArray, float] | None:
    """The cheapest single-sourcing assignment to the open ``sites`` (a generalized assignment
    MIP), or None when HiGHS finds none in time."""
    sub = ok[:, sites]
    if not sub.any(axis=1).all() or deadline.expired():
        return None
    model, ci, cj = capacitated_model(cost[:, sites], demand, capacity[sites], len(sites), sub)
    res = _highs(model, deadline, seed, threads, False)
    if res.x is None:
        return None
    used = res.x[:ci.size] > 0.5
    assignment = np.full(cost.shape[0], NO_SITE, dtype=np.int64)
    assignment[ci[used]] = sites[cj[used]]
    if (assignment == NO_SITE).any():
        return None
    return assignment, float(cost[np.arange(len(cost)), assignment].sum())


def locate_allocate(cost: FloatArray, demand: FloatArray, capacity: FloatArray, ok: BoolArray,
                    sites: IntArray, assignment: IntArray, deadline: Deadline, seed: int = 0,
                    threads: int | None = None) -> tuple[IntArray, IntArray, float]:
    """Improve a capacitated plan: move each base to the best site for its clients (one that
    reaches all of them and holds their demand), then reassign every client to the moved
    bases (a generalized assignment MIP); repeat while it gains and time is left.

    Returns the sites, the assignment and its cost (the input's if nothing better is found).
    """
    best_sites, best = np.sort(sites), assignment.copy()
    best_cost = float(cost[np.arange(len(cost)), best].sum())
    while not deadline.expired():
        moved, taken = best_sites.copy(), set(best_sites.tolist())
        for k, j in enumerate(best_sites):
            members = np.flatnonzero(best == j)
            if members.size == 0:
                continue
            fits = ok[members].all(axis=0) & (capacity >= demand[members].sum() - 1e-9)
            total = np.where(fits, cost[members].sum(axis=0), np.inf)
            total[[t for t in taken if t != j]] = np.inf
            target = int(np.argmin(total))
            if total[target] < total[j] - 1e-9:
                taken.discard(int(j))
                taken.add(target)
                moved[k] = target
        moved = np.sort(moved)
        # Reassigning to the old bases can help too (a MIP plan is not always best-assigned).
        plan = _assign(cost, demand, capacity, ok, moved, deadline, seed,
                       threads)
        if plan is None or plan[1] >= best_cost - 1e-9:
            break
        best_sites, (best, best_cost) = moved, plan
    return best_sites, best, best_cost
