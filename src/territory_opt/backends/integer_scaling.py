"""Integer scaling of a :class:`~territory_opt.backends.linear.LinearModel` for CP-SAT.

CP-SAT takes integers only. :func:`translate` makes an integer copy of the model whose feasible
points are feasible in floats, and says whether the copy is *exact* (every row scaled without
rounding), which decides whether CP-SAT's bound is valid for the original model. The rules, with a
worked example, are in ``docs/backends-cpsat.md``; :mod:`territory_opt.backends.cpsat` solves the
copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from territory_opt.backends.linear import LinearModel

INTEGRAL_TOL = 1e-9
"""A value ``v`` counts as integral when ``|v - round(v)| <= INTEGRAL_TOL * max(1, |v|)``."""

MAX_ROW_DIGITS = 6
"""Rows are scaled by ``10**d`` with ``d`` at most this."""

MAX_MAGNITUDE = 2.0**53
"""Largest scaled row activity or objective magnitude allowed: integers up to here are exact in
floats, and sums of a few of them stay far below CP-SAT's 2**62 overflow guard."""

OBJECTIVE_TARGET = 1e8
"""The largest scaled cost ``|c_j| × S`` lies in ``(OBJECTIVE_TARGET / 10, OBJECTIVE_TARGET]``."""


class UnsupportedModelError(ValueError):
    """The model is outside what the integer translation supports (solve reports ERROR)."""


class EmptyDomainError(ValueError):
    """An integer column has no integer value within its bounds (solve reports INFEASIBLE)."""


@dataclass(frozen=True, eq=False)
class Translation:
    """The integer copy of a model and the maps back to it.

    CP-SAT variable ``k`` stands for model column ``cols[k]``: ``x = z / unit[k]`` (``unit`` is 1
    for integer columns, ``10**d × |a_ij|`` for a slack in row ``i``). Model columns without a
    variable (continuous columns in no row) are fixed at ``fixed[j]``.
    """

    cols: np.ndarray  # model column of each CP-SAT variable
    lb: np.ndarray  # int64 domain of each CP-SAT variable
    ub: np.ndarray
    boolean: np.ndarray  # variable is a [0, 1] integer column
    unit: np.ndarray  # float: model value = CP-SAT value / unit
    indptr: np.ndarray  # rows in CSR form over CP-SAT variables, integer coefficients
    var: np.ndarray
    coef: np.ndarray
    row_lo: np.ndarray  # float holding integers, or ±inf
    row_hi: np.ndarray
    row_digits: np.ndarray
    row_exact: np.ndarray
    fixed: np.ndarray  # per model column; used only where no variable stands for it
    cost: np.ndarray  # int64 objective coefficient per CP-SAT variable
    cost_scale: float  # S
    allowance: float  # the most the rounded costs understate c·x by (model units)
    constant: float  # offset plus the cost of the fixed columns
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Whether every row was scaled exactly (then CP-SAT's bound and proofs hold)."""
        return bool(self.row_exact.all())

    def to_model(self, values: np.ndarray) -> np.ndarray:
        """The model's solution vector from CP-SAT values (slacks divided back by their unit)."""
        x = self.fixed.copy()
        x[self.cols] = values / self.unit
        return x

    def to_bound(self, cp_bound: float) -> float:
        """A lower bound on the model's optimum from CP-SAT's bound, or -inf if none holds.

        CP-SAT's bound holds for the integer copy; it holds for the model only when every row
        was scaled exactly (the copy then contains an optimum of the model).
        """
        if not self.exact:
            return float("-inf")
        if not self.cost.any():
            return self.constant  # no objective: every plan costs the constant
        if not math.isfinite(cp_bound):
            return float("-inf")
        return cp_bound / self.cost_scale - self.allowance + self.constant




def translate(model: LinearModel) -> Translation:
    """The integer copy of ``model`` CP-SAT solves; see ``docs/backends-cpsat.md``.

    Raises
    ------
    UnsupportedModelError
        When a continuous column is in several rows, has an infinite lower bound, or an infinite
        upper bound with a negative cost; when an integer column is unbounded; when values are
        too large to scale.
    EmptyDomainError
        When an integer column has no integer value within its bounds.
    """
    a = _clean_matrix(model)
    n_cols = model.n_cols
    per_col = np.bincount(a.indices, minlength=n_cols)
    integer = np.asarray(model.integer, dtype=bool)
    int_lb, int_ub = _integer_bounds(model, integer)
    fixed = _fixed_columns(model, integer, per_col)
    free_standing = ~integer & (per_col == 0)
    _check_slacks(model, integer, per_col)

    rows = np.repeat(np.arange(model.n_rows), np.diff(a.indptr))
    cols = a.indices
    is_int = integer[cols]
    digits, exact = _row_digits(model, rows, cols, a.data, is_int, int_lb, int_ub)
    coef, row_lo, row_hi, unit = _scale_rows(model, rows, cols, a.data, is_int, digits, exact,
                                             int_lb, int_ub)
    slack = ~integer & ~free_standing
    lb, ub = _domains(model, integer, slack, int_lb, int_ub, unit)
    _cap_slacks(lb, ub, rows, cols, coef, is_int, row_lo, row_hi, slack)

    keep = np.flatnonzero(~free_standing)
    var_of = np.full(n_cols, -1, dtype=np.int64)
    var_of[keep] = np.arange(len(keep))
    cost_eff = model.c[keep] / unit[keep]  # cost per CP-SAT unit
    cost, scale, allowance = _scale_objective(cost_eff, lb[keep], ub[keep])
    return Translation(
        cols=keep,
        lb=lb[keep].astype(np.int64),
        ub=ub[keep].astype(np.int64),
        boolean=integer[keep] & (lb[keep] == 0) & (ub[keep] == 1),
        unit=unit[keep],
        indptr=a.indptr,
        var=var_of[cols],
        coef=coef,
        row_lo=row_lo,
        row_hi=row_hi,
        row_digits=digits,
        row_exact=exact,
        fixed=fixed,
        cost=cost,
        cost_scale=scale,
        allowance=allowance,
        constant=float(model.offset + model.c[free_standing] @ fixed[free_standing]),
        notes=_notes(model, digits, exact, cost_eff, cost, scale, allowance),
    )


def _scale_rows(
    model: LinearModel,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    is_int: np.ndarray,
    digits: np.ndarray,
    exact: np.ndarray,
    int_lb: np.ndarray,
    int_ub: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integer coefficients per nonzero, integer row bounds, and each column's unit.

    Integer columns get ``round(a × 10**d)``; a slack gets ±1 and the unit ``10**d × |a|`` (its
    CP-SAT value is its share of the scaled row). Bounds are rounded inwards after snapping
    values within tolerance; an inexact row is first tightened by the most its rounded
    coefficients can be off by, ``Σ |a 10**d − round| × max(|lb|, |ub|)``.
    """
    scaled = vals * 10.0 ** digits[rows]
    rounded = np.rint(scaled)
    coef = np.where(is_int, rounded, np.sign(vals)).astype(np.int64)
    int_maxabs = np.maximum(np.abs(int_lb), np.abs(int_ub))[cols]
    error = np.where(is_int, np.abs(scaled - rounded) * int_maxabs, 0.0)
    slop = np.where(exact, 0.0, np.bincount(rows, weights=error, minlength=model.n_rows))
    row_scale = 10.0 ** digits
    row_lo = _round_up(model.row_lo * row_scale + slop)
    row_hi = _round_down(model.row_hi * row_scale - slop)
    unit = np.ones(model.n_cols)
    unit[cols[~is_int]] = np.abs(scaled[~is_int])
    return coef, row_lo, row_hi, unit


def _domains(
    model: LinearModel,
    integer: np.ndarray,
    slack: np.ndarray,
    int_lb: np.ndarray,
    int_ub: np.ndarray,
    unit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of every column in CP-SAT units (slacks may still have ``ub = inf``)."""
    lb = np.zeros(model.n_cols)
    ub = np.zeros(model.n_cols)
    lb[integer], ub[integer] = int_lb[integer], int_ub[integer]
    lb[slack] = _round_up(model.lb[slack] * unit[slack])
    ub[slack] = _round_down(model.ub[slack] * unit[slack])
    return lb, ub


def _clean_matrix(model: LinearModel) -> sp.csr_array:
    """A copy of the constraint matrix without explicit zeros or duplicate entries."""
    a = sp.csr_array(model.a, copy=True)
    a.sum_duplicates()
    a.eliminate_zeros()
    a.sort_indices()
    return a


def _integral(values: np.ndarray) -> np.ndarray:
    """Which values are integers to :data:`INTEGRAL_TOL` relative (infinities are not)."""
    with np.errstate(invalid="ignore"):
        close = np.abs(values - np.rint(values)) <= INTEGRAL_TOL * np.maximum(1.0, np.abs(values))
    return np.asarray(close, dtype=bool)


def _round_up(values: np.ndarray) -> np.ndarray:
    """Snap values within tolerance of an integer to it, round the others up; keep ±inf."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        rounded = np.where(_integral(values), np.rint(values), np.ceil(values))
    return np.asarray(rounded, dtype=float)


def _round_down(values: np.ndarray) -> np.ndarray:
    """Snap values within tolerance of an integer to it, round the others down; keep ±inf."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        rounded = np.where(_integral(values), np.rint(values), np.floor(values))
    return np.asarray(rounded, dtype=float)


def _integer_bounds(model: LinearModel, integer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer bounds of the integer columns (zeros elsewhere); CP-SAT needs them finite."""
    lb = np.where(integer, model.lb, 0.0)
    ub = np.where(integer, model.ub, 0.0)
    unbounded = np.flatnonzero(~np.isfinite(lb) | ~np.isfinite(ub))
    if len(unbounded):
        raise UnsupportedModelError(
            f"integer column {unbounded[0]} has an infinite bound ({len(unbounded)} such "
            "columns); CP-SAT needs finite domains")
    lb, ub = _round_up(lb), _round_down(ub)
    empty = np.flatnonzero(lb > ub)
    if len(empty):
        j = empty[0]
        raise EmptyDomainError(
            f"integer column {j} has no integer value in [{model.lb[j]}, {model.ub[j]}]")
    if max(np.abs(lb).max(initial=0.0), np.abs(ub).max(initial=0.0)) > MAX_MAGNITUDE:
        raise UnsupportedModelError("an integer column's bounds exceed 2**53")
    return lb, ub


def _fixed_columns(model: LinearModel, integer: np.ndarray, per_col: np.ndarray) -> np.ndarray:
    """Values of continuous columns in no row: the cheaper bound is optimal (exact)."""
    fixed = np.zeros(model.n_cols)
    free = ~integer & (per_col == 0)
    if (free & ~np.isfinite(model.lb)).any() or (
            free & (model.c < 0) & ~np.isfinite(model.ub)).any():
        raise UnsupportedModelError("a continuous column in no row is unbounded")
    fixed[free] = np.where(model.c[free] < 0, model.ub[free], model.lb[free])
    return fixed


def _check_slacks(model: LinearModel, integer: np.ndarray, per_col: np.ndarray) -> None:
    """Continuous columns must be slacks: in one row, finite below, capped only if cost >= 0."""
    continuous = ~integer & (per_col > 0)
    several = np.flatnonzero(continuous & (per_col > 1))
    if len(several):
        raise UnsupportedModelError(
            f"continuous column {several[0]} appears in {per_col[several[0]]} rows; the CP-SAT "
            "translation supports continuous columns (slacks) in one row only")
    no_floor = np.flatnonzero(continuous & ~np.isfinite(model.lb))
    if len(no_floor):
        raise UnsupportedModelError(
            f"continuous column {no_floor[0]} has an infinite lower bound; the CP-SAT "
            "translation needs slacks bounded below")
    # A cap on a slack is safe because no optimal vertex needs more; with a negative cost the
    # optimum could be unbounded and the cap would hide it.
    uncappable = np.flatnonzero(continuous & ~np.isfinite(model.ub) & (model.c < 0))
    if len(uncappable):
        raise UnsupportedModelError(
            f"continuous column {uncappable[0]} has a negative cost and no upper bound")


def _row_digits(
    model: LinearModel,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    is_int: np.ndarray,
    int_lb: np.ndarray,
    int_ub: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the smallest ``d`` that makes it integral, and whether one exists.

    What must be integral: the coefficients of integer columns; in rows with a slack also the
    finite row bounds and the slack's finite bounds in row units (then every vertex of the
    slacks' polyhedron is integral, so counting slacks in whole units loses no optimum). Rows
    without an exact ``d`` get the largest ``d`` their magnitude allows (the finest rounding).
    """
    n_rows = model.n_rows
    has_slack = np.bincount(rows[~is_int], minlength=n_rows) > 0
    slack_cols, slack_rows = cols[~is_int], rows[~is_int]
    slack_abs = np.abs(vals[~is_int])
    bounded_rows = np.flatnonzero(has_slack)
    parts_rows = [rows[is_int], bounded_rows, bounded_rows, slack_rows, slack_rows]
    parts_vals = [vals[is_int], model.row_lo[bounded_rows], model.row_hi[bounded_rows],
                  slack_abs * model.lb[slack_cols], slack_abs * model.ub[slack_cols]]
    check_rows = np.concatenate(parts_rows)
    check_vals = np.concatenate(parts_vals)
    finite = np.isfinite(check_vals)
    check_rows, check_vals = check_rows[finite], check_vals[finite]

    magnitude = _row_magnitude(model, rows, cols, vals, is_int, int_lb, int_ub)
    # A row of zeros (an attribute 0 everywhere) has room for any digits: cap it at 1e-300
    # without overflowing (2**53 / 1e-300 is inf).
    with np.errstate(divide="ignore", over="ignore"):
        room = np.floor(np.log10(MAX_MAGNITUDE / np.maximum(magnitude, 1e-300)))
    too_big = np.flatnonzero(room < 0)
    if len(too_big):
        raise UnsupportedModelError(f"row {too_big[0]} has an activity above 2**53")
    d_max = np.minimum(room, MAX_ROW_DIGITS).astype(np.int64)

    digits = d_max.copy()
    exact = np.zeros(n_rows, dtype=bool)
    for d in range(MAX_ROW_DIGITS + 1):
        bad = ~_integral(check_vals * 10.0**d)
        fits = (np.bincount(check_rows[bad], minlength=n_rows) == 0) & (d <= d_max) & ~exact
        digits[fits] = d
        exact |= fits
    return digits, exact


def _row_magnitude(
    model: LinearModel,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    is_int: np.ndarray,
    int_lb: np.ndarray,
    int_ub: np.ndarray,
) -> np.ndarray:
    """Per row, the largest activity plus the largest finite bound, in model units."""
    lb_abs = np.abs(model.lb[cols])
    ub_abs = np.where(np.isfinite(model.ub[cols]), np.abs(model.ub[cols]), 0.0)
    col_abs = np.where(is_int, np.maximum(np.abs(int_lb[cols]), np.abs(int_ub[cols])),
                       np.maximum(lb_abs, ub_abs))
    activity = np.bincount(rows, weights=np.abs(vals) * col_abs, minlength=model.n_rows)
    lo = np.where(np.isfinite(model.row_lo), np.abs(model.row_lo), 0.0)
    hi = np.where(np.isfinite(model.row_hi), np.abs(model.row_hi), 0.0)
    return np.asarray(activity + np.maximum(lo, hi))


def _cap_slacks(
    lb: np.ndarray,
    ub: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    coef: np.ndarray,
    is_int: np.ndarray,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    slack: np.ndarray,
) -> None:
    """Replace infinite slack upper bounds (in place) by the row's largest possible need.

    For fixed integer columns the slacks of a row span a polyhedron with one ±1 row; at a vertex
    all slacks but one sit on a finite bound and that one closes the row, so it is at most
    ``Σ |integer coef| × |bound| + Σ |other slack bounds| + |row bound|``. With non-negative
    costs (checked) an optimum lies at a vertex, so the cap cuts no optimum.
    """
    n_rows = len(row_lo)
    col_abs = np.maximum(np.abs(lb), np.where(np.isfinite(ub), np.abs(ub), 0.0))
    need = np.bincount(rows, weights=np.abs(coef) * col_abs[cols], minlength=n_rows)
    lo = np.where(np.isfinite(row_lo), np.abs(row_lo), 0.0)
    hi = np.where(np.isfinite(row_hi), np.abs(row_hi), 0.0)
    need += np.maximum(lo, hi)
    uncapped = slack & ~np.isfinite(ub)
    slack_nz = ~is_int & uncapped[cols]
    capped_cols = cols[slack_nz]
    ub[capped_cols] = np.maximum(np.ceil(need[rows[slack_nz]]), lb[capped_cols])


def _scale_objective(
    cost: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Integer costs for one power of ten ``S``, and the rounding allowance.

    ``S`` puts the largest ``|c| × S`` just below :data:`OBJECTIVE_TARGET` unless the worst-case
    objective would then exceed :data:`MAX_MAGNITUDE`; a power of ten keeps costs with few
    decimals exact. Each ``c × S`` is rounded towards the side that can only understate the
    objective over the variable's domain: down where the domain is non-negative (every column
    of our models), up where it is non-positive, to nearest otherwise. With ``e = c S − round``
    the true objective is ``(Σ round × z + Σ e z) / S``, and ``Σ e z >= Σ min(e lb, e ub)``, so
    the allowance ``−Σ min(e lb, e ub) / S`` (zero here up to snapping noise) makes CP-SAT's
    bound a bound on ``c·x``.
    """
    largest = float(np.abs(cost).max(initial=0.0))
    if largest == 0.0:
        return np.zeros(len(cost), dtype=np.int64), 1.0, 0.0
    maxabs = np.maximum(np.abs(lb), np.abs(ub))
    worst = float(np.abs(cost) @ maxabs)
    digits = math.floor(math.log10(OBJECTIVE_TARGET / largest))
    if worst > 0:
        digits = min(digits, math.floor(math.log10(MAX_MAGNITUDE / worst)))
    scale = 10.0**digits
    exact = cost * scale
    rounded = np.where(lb >= 0, _round_down(exact),
                       np.where(ub <= 0, _round_up(exact), np.rint(exact)))
    error = exact - rounded
    allowance = -float(np.minimum(error * lb, error * ub).sum()) / scale
    return rounded.astype(np.int64), scale, allowance if allowance > 0 else 0.0


def _notes(
    model: LinearModel,
    digits: np.ndarray,
    exact: np.ndarray,
    cost_eff: np.ndarray,
    cost: np.ndarray,
    scale: float,
    allowance: float,
) -> list[str]:
    """Log lines that explain the translation."""
    counts = np.bincount(digits, minlength=MAX_ROW_DIGITS + 1)
    spread = ", ".join(f"10^{d}: {n}" for d, n in enumerate(counts) if n)
    notes = [f"cpsat: rows scaled by {spread or 'none'}; "
             f"{int((~exact).sum())} of {model.n_rows} rows inexact"]
    if not exact.all():
        groups = sorted({g.name for g in model.row_groups
                         for i in np.flatnonzero(~exact) if g.start <= i < g.stop})
        notes.append("cpsat: inexact rows tightened by their rounding error; CP-SAT's bound and "
                     "infeasibility proofs do not hold for the model" +
                     (f" (groups: {', '.join(groups)})" if groups else ""))
    notes.append(f"cpsat: objective scaled by S = {scale:g}; rounding allowance {allowance:.6g}")
    lost = int(((cost == 0) & (cost_eff != 0)).sum())
    if lost:
        notes.append(f"cpsat: {lost} non-zero costs round to 0 at this scale")
    return notes
