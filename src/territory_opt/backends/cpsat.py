"""CP-SAT backend (OR-Tools): the model made integral, then solved by CP-SAT.

CP-SAT accepts integer variables and integer coefficients only, so the
:class:`~territory_opt.models.linear.LinearModel` is translated (rules and a worked example in
``docs/backends-cpsat.md``, section "CP-SAT integer scaling"):

* integer columns stay integer (``[0, 1]`` ones become Booleans);
* every row is multiplied by the smallest ``10**d`` (``d`` in 0..6) that makes it integral to
  1e-9 relative. A row that no such ``d`` makes integral is *inexact*: its coefficients are
  rounded and its bounds tightened by the worst-case rounding error, so CP-SAT only finds points
  that are feasible in floats;
* a continuous column (a slack: bounded below, in exactly one row) becomes an integer count of
  its row's scaled units, with coefficient ±1; an infinite upper bound is replaced by the largest
  value a vertex can need;
* the objective is multiplied by one power of ten ``S`` and each cost rounded towards the side
  that can only understate the objective (down, for the non-negative columns of our models).

The plan is scored again in floats (``model.objective(x)``). The bound is CP-SAT's bound divided
by ``S`` (less a rounding allowance, zero for non-negative columns); it is valid for the whole
model only when every row was scaled exactly, and ``-inf`` otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from territory_opt.backends.base import (
    Capabilities,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
    final_status,
    module_available,
    watch_stop,
)
from territory_opt.models.linear import LinearModel

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

INTEGRAL_TOL = 1e-9
"""A value ``v`` counts as integral when ``|v - round(v)| <= INTEGRAL_TOL * max(1, |v|)``."""

MAX_ROW_DIGITS = 6
"""Rows are scaled by ``10**d`` with ``d`` at most this."""

MAX_MAGNITUDE = 2.0**53
"""Largest scaled row activity or objective magnitude allowed: integers up to here are exact in
floats, and sums of a few of them stay far below CP-SAT's 2**62 overflow guard."""

OBJECTIVE_TARGET = 1e8
"""The largest scaled cost ``|c_j| × S`` lies in ``(OBJECTIVE_TARGET / 10, OBJECTIVE_TARGET]``."""

DEFAULT_WORKERS = 2
"""CP-SAT workers when ``SolveOptions.threads`` is None (the machine this was tuned on has 2)."""


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


class CpSatBackend:
    """OR-Tools CP-SAT on an integer-scaled copy of the model; reports a bound when exact."""

    name = "cpsat"
    capabilities = Capabilities(
        notes=(
            "integer-scaled copy of the model (docs/backends-cpsat.md); "
            f"{DEFAULT_WORKERS} workers unless threads is set (this machine has 2 cores); "
            "with more than one worker interleave_search is on (core worker left out), so the "
            "same seed and threads give the same plan when the solve ends on optimality or the "
            "gap target, not when cut by the clock or a stop; slower to a first plan than "
            "CP-SAT's racing portfolio; bound = -inf when some row cannot be scaled exactly"
        ),
    )

    def available(self) -> bool:
        """Whether OR-Tools is installed."""
        return module_available("ortools")

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        """Solve ``model`` with CP-SAT under ``options``; see :mod:`territory_opt.backends.base`.

        Parameters
        ----------
        model
            The model to minimise.
        options
            Limits, threads, seed, warm start, progress callback and stop flag.

        Returns
        -------
        SolveResult
            The plan re-scored in floats, and a bound that holds for the whole model (``-inf``
            when some row was scaled inexactly).
        """
        started = time.perf_counter()
        if options.stop is not None and options.stop.is_set():
            return _no_plan(started, "stop was set before the solve started", "interrupted")
        try:
            tr = translate(model)
        except UnsupportedModelError as exc:
            return SolveResult(Status.ERROR, None, float("inf"), float("-inf"),
                               time.perf_counter() - started, log=f"cpsat: {exc}",
                               stop_reason="model not supported by the CP-SAT translation")
        except EmptyDomainError as exc:
            return SolveResult(Status.INFEASIBLE, None, float("inf"), float("inf"),
                               time.perf_counter() - started, log=f"cpsat: {exc}",
                               stop_reason="proven infeasible",
                               bound_source="empty integer domain")
        try:
            from ortools.sat.python import cp_model
        except ImportError as exc:  # available() said yes, but the import failed
            return SolveResult(Status.ERROR, None, float("inf"), float("-inf"),
                               time.perf_counter() - started, log=f"cpsat: {exc}")
        return _Run(cp_model, model, tr, options, started).solve()


# --- translation ------------------------------------------------------------------------------


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
    with np.errstate(divide="ignore"):
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


# --- solving ----------------------------------------------------------------------------------


class _Run:
    """One CP-SAT solve of a translated model."""

    def __init__(self, cp: Any, model: LinearModel, tr: Translation, options: SolveOptions,
                 started: float) -> None:
        self.cp = cp
        self.model = model
        self.tr = tr
        self.options = options
        self.started = started
        self.log: list[str] = list(tr.notes)

    def solve(self) -> SolveResult:
        """Build, solve, and map the outcome onto a :class:`SolveResult`."""
        cp_model_ = self._build()
        solver = self.cp.CpSolver()
        self._configure(solver)
        errors: list[Exception] = []
        reporter = _reporter(self.model, self.tr, self.options.progress, errors)
        end_watch = watch_stop(self.options.stop, solver.stop_search)
        try:
            status = solver.solve(cp_model_, reporter)
        except Exception as exc:  # a solver failure is a result, not a crash (the contract)
            self.log.append(f"cpsat: solve failed: {exc!r}")
            return self._result(Status.ERROR, None, float("-inf"), "solver failure")
        finally:
            end_watch()
        if errors:  # the caller's progress callback failed: that is the caller's error
            raise errors[0]
        return self._map(solver, status, cp_model_)

    def _build(self) -> cp_model.CpModel:
        """The CP-SAT model: one variable per kept column, one constraint per bounded row."""
        cp, tr = self.cp, self.tr
        m: cp_model.CpModel = cp.CpModel()
        variables: list[Any] = [
            m.new_bool_var(f"x{j}") if boolean else m.new_int_var(lo, hi, f"x{j}")
            for j, lo, hi, boolean in zip(tr.cols.tolist(), tr.lb.tolist(), tr.ub.tolist(),
                                          tr.boolean.tolist(), strict=True)
        ]
        weighted_sum = cp.LinearExpr.weighted_sum
        indptr, var, coef = tr.indptr.tolist(), tr.var.tolist(), tr.coef.tolist()
        for i, (lo, hi) in enumerate(zip(tr.row_lo.tolist(), tr.row_hi.tolist(), strict=True)):
            if lo == -math.inf and hi == math.inf:
                continue
            start, stop = indptr[i], indptr[i + 1]
            low = cp.INT_MIN if lo == -math.inf else int(lo)
            high = cp.INT_MAX if hi == math.inf else int(hi)
            if start == stop or low > high:
                if not low <= 0 <= high:  # an empty or contradictory row: infeasible
                    m.add_bool_or([])
                continue
            expr = weighted_sum([variables[k] for k in var[start:stop]], coef[start:stop])
            m.add_linear_constraint(expr, low, high)
        costly = np.flatnonzero(tr.cost).tolist()
        if costly:
            m.minimize(weighted_sum([variables[k] for k in costly], tr.cost[costly].tolist()))
        self._hint(m, variables)
        return m

    def _hint(self, m: cp_model.CpModel, variables: list[Any]) -> None:
        """The warm start as a hint: integers rounded, slacks in row units, all clipped."""
        start = self.options.warm_start
        if start is None:
            return
        start = np.asarray(start, dtype=float)
        if start.shape != (self.model.n_cols,):
            self.log.append(f"cpsat: warm start of shape {start.shape} ignored "
                            f"(expected ({self.model.n_cols},))")
            return
        values = start[self.tr.cols] * self.tr.unit
        ok = np.isfinite(values)
        hint = np.clip(np.rint(values[ok]), self.tr.lb[ok], self.tr.ub[ok]).astype(np.int64)
        for k, value in zip(np.flatnonzero(ok).tolist(), hint.tolist(), strict=True):
            m.add_hint(variables[k], value)
        self.log.append(f"cpsat: hint on {int(ok.sum())} of {len(values)} variables")

    def _configure(self, solver: cp_model.CpSolver) -> None:
        """Limits, threads, seed, determinism and logging."""
        options = self.options
        params = solver.parameters
        elapsed = time.perf_counter() - self.started
        params.max_time_in_seconds = max(float(options.time_limit) - elapsed, 0.0)
        params.relative_gap_limit = float(options.gap)
        workers = DEFAULT_WORKERS if options.threads is None else int(options.threads)
        params.num_workers = workers
        params.random_seed = int(options.seed)
        if workers != 1:
            # CP-SAT's parallel portfolio races its workers; interleaving runs them in fixed
            # batches so the same seed and worker count give the same search.
            params.interleave_search = True
            # A batch waits for its slowest task, and the core-based worker can overrun its
            # share many times over: on a 20-binary model with soft bands one batch took 10 s
            # (0.01 s without it). The LP-based workers give the bound on these models.
            params.ignore_subsolvers.append("core")
        params.log_search_progress = True
        params.log_to_stdout = bool(options.verbose)
        stop, stopped = options.stop, [False]

        def on_log(line: str) -> None:
            self.log.append(line.rstrip("\n"))
            # watch_stop may fire before CP-SAT is ready to be stopped; the first log lines
            # come from inside the solve, so a stop set in that window is caught here.
            if stop is not None and not stopped[0] and stop.is_set():
                stopped[0] = True
                solver.stop_search()

        solver.log_callback = on_log
        self.log.append(f"cpsat: {workers} workers, interleave_search={workers != 1}, "
                        f"seed {options.seed}")

    def _map(self, solver: cp_model.CpSolver, status: Any, m: cp_model.CpModel) -> SolveResult:
        """CP-SAT's status, solution and bound in the model's terms."""
        cp, tr = self.cp, self.tr
        interrupted = self.options.stop is not None and self.options.stop.is_set()
        limit = "interrupted" if interrupted else "time limit"
        if status in (cp.OPTIMAL, cp.FEASIBLE):
            values = np.fromiter(solver.response_proto.solution, dtype=np.int64,
                                 count=len(tr.cols))
            x = tr.to_model(values.astype(float))
            self._check(x)
            bound = self._bound(solver)
            if status == cp.FEASIBLE:
                return self._result(Status.FEASIBLE, x, bound, limit)
            mapped, demoted = final_status(Status.OPTIMAL, self.model.objective(x), bound)
            if demoted and not tr.exact:
                demoted = "optimal for the integer-scaled model; no bound (inexact rows)"
            elif demoted and tr.allowance > 0:
                demoted = f"gap target reached (rounding allowance {tr.allowance:.3g})"
            return self._result(mapped, x, bound, demoted or "proven optimal")
        if status == cp.INFEASIBLE:
            if tr.exact:
                return self._result(Status.INFEASIBLE, None, float("inf"), "proven infeasible")
            self.log.append("cpsat: the integer-scaled model is infeasible, but inexact rows "
                            "were tightened, so the model itself may be feasible")
            return self._result(Status.NO_PLAN, None, float("-inf"),
                                "infeasible after inexact scaling (not a proof)")
        if status == cp.MODEL_INVALID:
            self.log.append(f"cpsat: model invalid: {m.validate()}")
            return self._result(Status.ERROR, None, float("-inf"), "model invalid")
        return self._result(Status.NO_PLAN, None, self._bound(solver), limit)

    def _bound(self, solver: cp_model.CpSolver) -> float:
        """CP-SAT's bound in model units, or -inf when it does not hold for the model."""
        return self.tr.to_bound(float(solver.best_objective_bound))

    def _check(self, x: np.ndarray) -> None:
        """Log how far the mapped solution is from feasible in floats (should be ~0)."""
        activity = self.model.a @ x
        lo, hi = self.model.row_lo, self.model.row_hi
        with np.errstate(invalid="ignore"):
            excess = np.maximum(np.nan_to_num(lo - activity, nan=0.0, neginf=0.0),
                                np.nan_to_num(activity - hi, nan=0.0, neginf=0.0))
            scale = np.maximum(1.0, np.abs(np.where(np.isfinite(lo), lo, 0.0)) +
                               np.abs(np.where(np.isfinite(hi), hi, 0.0)))
        worst = float((excess / scale).max(initial=0.0))
        if worst > 1e-7:
            self.log.append(f"cpsat: warning: solution violates a row by {worst:.3g} relative")

    def _result(self, status: Status, x: np.ndarray | None, bound: float,
                reason: str) -> SolveResult:
        has_plan = status.has_plan and x is not None
        if not self.tr.exact and status != Status.INFEASIBLE:
            source = "none: some rows scaled inexactly"
        elif status == Status.INFEASIBLE:
            source = "CP-SAT infeasibility proof (exact scaling)"
        else:
            source = "CP-SAT best objective bound / S − rounding allowance"
        return SolveResult(
            status=status,
            x=x if has_plan else None,
            objective=self.model.objective(x) if has_plan and x is not None else float("inf"),
            bound=bound,
            seconds=time.perf_counter() - self.started,
            log="\n".join(self.log),
            stop_reason=reason,
            bound_source=source,
        )


def _reporter(
    model: LinearModel,
    tr: Translation,
    progress: Callable[[Progress], None] | None,
    errors: list[Exception],
) -> cp_model.CpSolverSolutionCallback | None:
    """A solution callback that reports each incumbent in model units, or None.

    An exception raised by ``progress`` stops the search and is kept in ``errors`` to be raised
    once CP-SAT has returned (raising inside CP-SAT's thread would lose it).
    """
    if progress is None:
        return None
    report = progress  # narrowed, for the class body
    from ortools.sat.python import cp_model

    class Reporter(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            if errors:
                return
            # The objective is re-scored in floats, like the final plan; the callback's own
            # objective is the rounded integer one.
            values = np.fromiter(self.response_proto.solution, dtype=np.int64,
                                 count=len(tr.cols))
            objective = model.objective(tr.to_model(values.astype(float)))
            bound = tr.to_bound(float(self.best_objective_bound))
            try:
                report(Progress(objective, bound, float(self.wall_time)))
            except Exception as exc:
                errors.append(exc)
                self.stop_search()

    return Reporter()


def _no_plan(started: float, message: str, reason: str) -> SolveResult:
    return SolveResult(Status.NO_PLAN, None, float("inf"), float("-inf"),
                       time.perf_counter() - started, log=f"cpsat: {message}",
                       stop_reason=reason)
