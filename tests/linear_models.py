"""Small hand-built LinearModels shared by the backend unit tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from territory_opt.backends.linear import LinearModel, RowBuilder

INF = np.inf

ASSIGNMENT_WITH_SLACK_OPTIMUM = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 2.0])
"""The unique optimal ``x`` of :func:`assignment_with_slack` (objective 19.5)."""


def assignment_with_slack() -> LinearModel:
    """4 items × 2 groups, a ranged load row with a costly slack, a one-sided row, an offset.

    Every item is free in group 1 and costs 10 in group 0; group 0's load plus a slack (4 per
    unit) must lie in [5, 7], and group 1's load is at most 7 (of 8). The unique optimum puts
    item 0 (weight 3) in group 0 with slack 2: 10 + 8 + offset 1.5 = 19.5
    (:data:`ASSIGNMENT_WITH_SLACK_OPTIMUM`).
    """
    weight = np.array([3.0, 2.0, 2.0, 1.0])
    n, m = len(weight), 2
    pair_item, pair_group = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    slack = n * m
    c = np.append(np.where(pair_group == 0, 10.0, 0.0), 4.0)
    rows = RowBuilder(n * m + 1)
    rows.add("assign", pair_item, np.arange(n * m), np.ones(n * m), np.ones(n), np.ones(n))
    in_0, in_1 = np.flatnonzero(pair_group == 0), np.flatnonzero(pair_group == 1)
    rows.add("load 0", np.zeros(n + 1, dtype=int), np.append(in_0, slack),
             np.append(weight, 1.0), np.array([5.0]), np.array([7.0]))
    rows.add("load 1", np.zeros(n, dtype=int), in_1, weight, np.array([-INF]), np.array([7.0]))
    return _model(c, rows, n_binary=n * m, offset=1.5, ub_extra=[INF])


def infeasible() -> LinearModel:
    """Both groups' loads at most 3 while the items weigh 8 in all."""
    weight = np.array([3.0, 2.0, 2.0, 1.0])
    n, m = len(weight), 2
    pair_item, pair_group = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    rows = RowBuilder(n * m)
    rows.add("assign", pair_item, np.arange(n * m), np.ones(n * m), np.ones(n), np.ones(n))
    rows.add("load", pair_group, np.arange(n * m), weight[pair_item], np.full(m, -INF),
             np.full(m, 3.0))
    return _model(np.ones(n * m), rows, n_binary=n * m)


def pigeonhole() -> LinearModel:
    """Three items, two territories that take at most one item each (x[i,k] at column 2i+k)."""
    a = sp.csr_array(np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1],
                               [1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]], dtype=float))
    return LinearModel(
        c=np.ones(6), offset=0.0, lb=np.zeros(6), ub=np.ones(6), integer=np.ones(6, dtype=bool),
        a=a, row_lo=np.array([1.0, 1, 1, 0, 0]), row_hi=np.ones(5),
    )


def odd_shapes() -> LinearModel:
    """A general integer column, an unused column, a free row and an empty row.

    Columns: y integer in [0, 10] with cost 1 and ``y >= 2.5`` (so y = 3); z continuous in
    [2, 5], in no row and without cost. Optimum 3.
    """
    a = sp.csr_array(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
    return LinearModel(
        c=np.array([1.0, 0.0]), offset=0.0, lb=np.array([0.0, 2.0]), ub=np.array([10.0, 5.0]),
        integer=np.array([True, False]), a=a, row_lo=np.array([2.5, -INF, -1.0]),
        row_hi=np.array([INF, INF, 1.0]),
    )


def balanced(n: int, m: int, tol: float, seed: int, *, costs: bool = True
             ) -> tuple[LinearModel, np.ndarray]:
    """Random balanced assignment (tight ranged load rows) and a feasible plan of it.

    Bands are built around a round-robin plan, so that plan is feasible however tight ``tol``.
    """
    rng = np.random.default_rng(seed)
    weight = rng.integers(1, 100, n).astype(float)
    cost = rng.uniform(0, 100, n * m) if costs else np.zeros(n * m)
    plan = np.arange(n) % m
    load = np.bincount(plan, weights=weight, minlength=m)
    pair_item, pair_group = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    rows = RowBuilder(n * m)
    rows.add("assign", pair_item, np.arange(n * m), np.ones(n * m), np.ones(n), np.ones(n))
    rows.add("load", pair_group, np.arange(n * m), weight[pair_item], (1 - tol) * load,
             (1 + tol) * load)
    start = np.zeros(n * m)
    start[np.arange(n) * m + plan] = 1.0
    return _model(cost, rows, n_binary=n * m), start


def random_assignment(n_items: int, n_terr: int, tolerance: float, seed: int) -> LinearModel:
    """Items to territories with ±tolerance workload bands and two-decimal costs."""
    rng = np.random.default_rng(seed)
    n = n_items * n_terr
    weight = rng.integers(1, 20, n_items).astype(float)
    item = np.repeat(np.arange(n_items), n_terr)
    terr = np.tile(np.arange(n_terr), n_items)
    a = sp.csr_array(
        (np.concatenate([np.ones(n), weight[item]]),
         (np.concatenate([item, n_items + terr]), np.tile(np.arange(n), 2))),
        shape=(n_items + n_terr, n),
    )
    target = weight.sum() / n_terr
    return LinearModel(
        c=rng.uniform(1, 100, n).round(2), offset=0.0, lb=np.zeros(n), ub=np.ones(n),
        integer=np.ones(n, dtype=bool), a=a,
        row_lo=np.concatenate([np.ones(n_items), np.full(n_terr, (1 - tolerance) * target)]),
        row_hi=np.concatenate([np.ones(n_items), np.full(n_terr, (1 + tolerance) * target)]),
    )


def _model(c: np.ndarray, rows: RowBuilder, *, n_binary: int, offset: float = 0.0,
           ub_extra: list[float] | None = None) -> LinearModel:
    """Binary columns first, then continuous ones (lower bound 0, upper bounds ``ub_extra``)."""
    extra = ub_extra or []
    a, lo, hi, groups = rows.matrix()
    return LinearModel(
        c=np.asarray(c, dtype=float), offset=offset, lb=np.zeros(n_binary + len(extra)),
        ub=np.append(np.ones(n_binary), extra), integer=np.arange(n_binary + len(extra)) < n_binary,
        a=a, row_lo=lo, row_hi=hi, row_groups=groups,
    )


def feasible(model: LinearModel, x: np.ndarray, tol: float = 1e-6) -> bool:
    """Whether ``x`` meets rows, bounds and integrality."""
    ax = model.a @ x
    integral = np.abs(x[model.integer] - np.round(x[model.integer])) <= tol
    return bool((ax >= model.row_lo - tol).all() and (ax <= model.row_hi + tol).all()
                and (x >= model.lb - tol).all() and (x <= model.ub + tol).all()
                and integral.all())
