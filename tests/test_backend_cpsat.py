"""CP-SAT backend: integer scaling, bound validity against HiGHS, and its own options and logs
(what every backend must do is in test_backend_contract.py).

Every model is tiny and built by hand, so each test runs in well under a second of solver time;
the time limits only guard against a hang.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from linear_models import random_assignment
from territory_opt.backends.contract import Progress, SolveOptions, SolveResult, Status
from territory_opt.backends.highs import HighsBackend
from territory_opt.backends.linear import LinearModel
from territory_opt.backends.registry import get_backend

pytest.importorskip("ortools")

from territory_opt.backends.cpsat import CpSatBackend
from territory_opt.backends.integer_scaling import translate

LIMIT = 5.0
INF = np.inf


def linear(
    c: Sequence[float],
    rows: Sequence[Sequence[float]],
    lo: Sequence[float],
    hi: Sequence[float],
    *,
    lb: Sequence[float] | None = None,
    ub: Sequence[float] | None = None,
    integer: Sequence[bool] | None = None,
    offset: float = 0.0,
) -> LinearModel:
    """A LinearModel from dense rows; binaries unless told otherwise."""
    n = len(c)
    return LinearModel(
        c=np.asarray(c, dtype=float),
        offset=offset,
        lb=np.zeros(n) if lb is None else np.asarray(lb, dtype=float),
        ub=np.ones(n) if ub is None else np.asarray(ub, dtype=float),
        integer=np.ones(n, dtype=bool) if integer is None else np.asarray(integer, dtype=bool),
        a=sp.csr_array(np.asarray(rows, dtype=float).reshape(len(rows), n)),
        row_lo=np.asarray(lo, dtype=float),
        row_hi=np.asarray(hi, dtype=float),
    )


def assignment_with_soft_row() -> LinearModel:
    """4 items × 2 territories (x[i,k] at column 2i+k), then a below/above slack pair.

    Territory 0 has a soft ranged band 6.8 <= load + below - above <= 7.2 (penalty 2 per unit,
    weights with one decimal, so rows scale by 10) that the cheapest assignment misses by 0.3;
    territory 1 a hard ranged band.
    """
    cost = [3.0, 5.0, 4.0, 2.0, 6.0, 1.0, 2.0, 7.0]
    weight = [4.0, 3.0, 5.0, 2.5]
    n = len(cost) + 2
    rows: list[list[float]] = []
    for i in range(4):
        row = [0.0] * n
        row[2 * i] = row[2 * i + 1] = 1.0
        rows.append(row)
    for k in range(2):
        row = [0.0] * n
        for i in range(4):
            row[2 * i + k] = weight[i]
        if k == 0:
            row[8], row[9] = 1.0, -1.0
        rows.append(row)
    return linear(
        [*cost, 2.0, 2.0], rows, [1, 1, 1, 1, 6.8, 4.0], [1, 1, 1, 1, 7.2, 9.5],
        ub=[1.0] * 8 + [INF, INF], integer=[True] * 8 + [False, False],
    )


def solve_both(model: LinearModel) -> tuple[SolveResult, SolveResult]:
    """CP-SAT's and HiGHS's results on ``model``, both asked for a zero gap."""
    options = SolveOptions(time_limit=LIMIT, gap=0.0)
    return CpSatBackend().solve(model, options), HighsBackend().solve(model, options)


def assert_feasible(model: LinearModel, x: np.ndarray, tol: float = 1e-9) -> None:
    activity = model.a @ x
    assert np.all(activity >= model.row_lo - tol)
    assert np.all(activity <= model.row_hi + tol)
    assert np.all(x >= model.lb - tol) and np.all(x <= model.ub + tol)
    integral = x[model.integer]
    assert np.allclose(integral, np.round(integral))


def assert_bound_valid(cp: SolveResult, optimum: float) -> None:
    assert cp.bound <= optimum + 1e-6
    assert cp.bound <= cp.objective + 1e-9


# --- the backend as a registered backend ------------------------------------------------------


def test_is_a_registered_backend() -> None:
    backend = get_backend("cpsat")
    assert isinstance(backend, CpSatBackend)  # the protocol and available(): the contract suite
    assert backend.capabilities.deterministic and backend.capabilities.bound
    assert "interleave_search" in backend.capabilities.notes


# --- translation ------------------------------------------------------------------------------


def test_rows_scale_by_the_smallest_power_of_ten() -> None:
    model = linear(
        [1, 1, 1],
        [[1, 2, 3], [0.25, 0.5, 1.25], [12.5, 1, 0], [1 / 3, 1 / 3, 1 / 3]],
        [-INF, -INF, -INF, -INF], [2.5, 1.5, 7, 1],
    )
    tr = translate(model)
    assert tr.row_digits.tolist()[:3] == [0, 2, 1]
    assert tr.row_exact.tolist() == [True, True, True, False]
    assert not tr.exact
    # Exact rows: integer coefficients, and the upper bound rounded down (2.5 -> 2).
    assert tr.coef[:6].tolist() == [1, 2, 3, 25, 50, 125]
    assert tr.row_hi[:3].tolist() == [2, 150, 70]
    # The inexact row (1e6 / 3 rounds to 333333) is tightened by its rounding error 3 × 1/3.
    assert tr.coef[-3:].tolist() == [333333] * 3
    assert tr.row_hi[3] == 1_000_000 - 1


def test_slacks_count_scaled_row_units_and_get_a_finite_cap() -> None:
    model = assignment_with_soft_row()
    tr = translate(model)
    assert tr.exact
    assert tr.row_digits.tolist() == [0, 0, 0, 0, 1, 1]
    below, above = 8, 9
    assert tr.unit[below] == tr.unit[above] == 10.0  # one CP-SAT unit = 0.1 workload
    assert tr.lb[below] == 0
    # Cap: Σ |coef| × 1 over the integer columns + the larger row bound, in tenths.
    assert tr.ub[below] == tr.ub[above] == (40 + 30 + 50 + 25) + 72
    assert tr.row_lo[4] == 68 and tr.row_hi[4] == 72


def test_objective_scaling_is_a_power_of_ten_and_decimal_costs_are_exact() -> None:
    model = linear([1.5, -2.25, 0.01], [[1, 1, 1]], [0], [3], offset=4.0)
    tr = translate(model)
    assert tr.cost_scale == 1e7  # 2.25 × 1e7 lies in (1e7, 1e8]
    assert tr.cost.tolist() == [15_000_000, -22_500_000, 100_000]
    assert tr.allowance == 0.0
    assert tr.constant == 4.0


def test_costs_that_do_not_scale_exactly_round_down_on_non_negative_domains() -> None:
    model = linear([1 / 3, 2 / 3], [[1, 1]], [1], [1])
    tr = translate(model)
    exact = np.array([1 / 3, 2 / 3]) * tr.cost_scale
    assert np.all(tr.cost <= exact) and np.all(tr.cost > exact - 1)
    assert tr.allowance == 0.0  # rounding down can only understate: no allowance needed


# --- solving, against HiGHS -------------------------------------------------------------------


def test_assignment_with_ranged_and_soft_rows_matches_highs() -> None:
    model = assignment_with_soft_row()
    cp, hi = solve_both(model)
    assert hi.status == Status.OPTIMAL
    assert cp.status == Status.OPTIMAL, cp.log
    assert cp.x is not None
    assert cp.objective == pytest.approx(hi.objective, abs=1e-6)
    assert cp.objective == pytest.approx(model.objective(cp.x))
    assert_feasible(model, cp.x)
    assert_bound_valid(cp, hi.objective)
    assert np.isfinite(cp.bound)
    assert cp.x[8] == pytest.approx(0.3) and cp.x[9] == 0  # the soft band gives 0.3
    assert "bound" in cp.bound_source


def test_quarter_coefficients_scale_exactly_and_match_highs() -> None:
    value = [1.7, 2.35, 0.9, 3.1, 1.05, 2.2]
    model = linear(
        [-v for v in value],
        [[0.25, 0.5, 0.75, 1.25, 0.5, 0.25], [1, 1, 0, 0, 1, 1]],
        [-INF, 1], [1.5, 3], offset=10.0,
    )
    cp, hi = solve_both(model)
    assert translate(model).exact
    assert cp.status == hi.status == Status.OPTIMAL
    assert cp.x is not None
    assert cp.objective == pytest.approx(hi.objective, abs=1e-6)
    assert_feasible(model, cp.x)
    assert_bound_valid(cp, hi.objective)
    assert np.isfinite(cp.bound)


def test_thirds_scale_inexactly_give_a_feasible_plan_and_no_bound() -> None:
    value = [1.7, 2.35, 0.9, 3.1, 1.05, 2.2]
    model = linear(
        [-v for v in value],
        [[0.25, 0.5, 0.75, 1.25, 0.5, 0.25], [1 / 3] * 6],
        [-INF, -INF], [1.5, 2.0],
    )
    cp, hi = solve_both(model)
    assert not translate(model).exact
    assert cp.status == Status.FEASIBLE, cp.log  # optimal for the copy, but nothing proves it
    assert cp.x is not None
    assert_feasible(model, cp.x)
    assert cp.objective >= hi.objective - 1e-6
    assert cp.objective == pytest.approx(hi.objective, abs=1e-6)  # the thirds row is slack here
    assert cp.bound == -np.inf
    assert "inexact" in cp.bound_source
    assert "inexact" in cp.stop_reason


def test_infeasible_after_inexact_tightening_is_not_called_infeasible() -> None:
    # x0 + x1 + x2 >= 3 in thirds: feasible (all ones), but the rounded row is tightened by
    # its rounding error and the integer copy is empty. That is no proof of infeasibility.
    model = linear([1, 1, 1], [[1 / 3, 1 / 3, 1 / 3]], [1], [INF])
    cp, hi = solve_both(model)
    assert hi.status == Status.OPTIMAL
    assert cp.status == Status.NO_PLAN
    assert "not a proof" in cp.stop_reason
    assert "inexact" in cp.log


def test_empty_integer_domain_is_infeasible_without_solving() -> None:
    model = linear([1, 1], [[1, 1]], [0], [2], lb=[0.2, 0], ub=[0.8, 1])
    result = CpSatBackend().solve(model, SolveOptions(time_limit=LIMIT))
    assert result.status == Status.INFEASIBLE


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (linear([1, 1], [[1, 1], [1, -1]], [1, 0], [1, 0], ub=[1, INF], integer=[True, False]),
         "appears in 2 rows"),
        (linear([1, 1], [[1, 1]], [1], [1], lb=[0, -INF], ub=[1, INF], integer=[True, False]),
         "infinite lower bound"),
        (linear([1, -1], [[1, 1]], [1], [INF], ub=[1, INF], integer=[True, False]),
         "negative cost"),
        (linear([1], [[1]], [1], [1], ub=[INF]), "infinite bound"),
    ],
)
def test_unsupported_models_are_errors_not_exceptions(model: LinearModel, message: str) -> None:
    result = CpSatBackend().solve(model, SolveOptions(time_limit=LIMIT))
    assert result.status == Status.ERROR
    assert message in result.log
    assert result.x is None and result.objective == np.inf


def test_continuous_column_in_no_row_sits_at_its_cheaper_bound() -> None:
    model = linear([1, 2, -3], [[1, 0, 0]], [1], [1], lb=[0, 0.5, 0], ub=[1, 4, 2.5],
                   integer=[True, False, False])
    cp, hi = solve_both(model)
    assert cp.status == Status.OPTIMAL
    assert cp.x is not None
    assert cp.x.tolist() == [1.0, 0.5, 2.5]
    assert cp.objective == pytest.approx(hi.objective)
    assert cp.bound == pytest.approx(hi.objective)


# --- options ----------------------------------------------------------------------------------


def test_warm_start_is_a_hint_on_every_variable_feasible_or_not() -> None:
    # That a start is accepted, feasible or not, is checked for every backend in
    # test_backend_contract.py; here: CP-SAT hints it on every column.
    model = assignment_with_soft_row()
    hi = HighsBackend().solve(model, SolveOptions(time_limit=LIMIT))
    assert hi.x is not None
    for start in (hi.x, np.ones(model.n_cols)):  # the optimum, and an infeasible vector
        cp = CpSatBackend().solve(model, SolveOptions(time_limit=LIMIT, warm_start=start))
        assert cp.status == Status.OPTIMAL
        assert cp.objective == pytest.approx(hi.objective, abs=1e-6)
        assert "hint on 10 of 10 variables" in cp.log


def test_warm_start_of_the_wrong_length_is_ignored_and_logged() -> None:
    model = assignment_with_soft_row()
    cp = CpSatBackend().solve(model, SolveOptions(time_limit=LIMIT, warm_start=np.ones(3)))
    assert cp.status == Status.OPTIMAL
    assert "warm start of shape (3,) ignored" in cp.log


def test_same_seed_and_threads_give_the_same_plan() -> None:
    model = random_assignment(120, 6, 0.01, seed=1)
    options = SolveOptions(time_limit=60, gap=0.0, seed=7, threads=2)
    first = CpSatBackend().solve(model, options)
    second = CpSatBackend().solve(model, options)
    assert first.status == second.status == Status.OPTIMAL  # ended on optimality, not the clock
    assert first.x is not None and second.x is not None
    assert np.array_equal(first.x, second.x)
    assert first.objective == second.objective and first.bound == second.bound
    assert "interleave_search: true" in first.log and "num_workers: 2" in first.log


def test_two_workers_do_not_stall_on_a_tiny_soft_band_scenario(tmp_path: Path) -> None:
    # In interleaved search a batch waits for its slowest task; the core-based worker once held
    # this 20-binary scenario for ~10 s, so it is left out.
    cases = pytest.importorskip("cases")
    from territory_opt import load_scenario
    from territory_opt.alignment.formulation import build_alignment

    variant = cases.VARIANTS["soft potential band + disruption penalty"]
    model = build_alignment(load_scenario(cases.write_scenario(tmp_path, variant))).linear
    started = time.perf_counter()
    cp = CpSatBackend().solve(model, SolveOptions(time_limit=30, gap=0.0, seed=5, threads=2))
    assert time.perf_counter() - started < 3.0
    assert cp.status == Status.OPTIMAL
    assert 'ignore_subsolvers: "core"' in cp.log
    hi = HighsBackend().solve(model, SolveOptions(time_limit=LIMIT, gap=0.0))
    # Costs here are travel km to 16 digits; at S = 1e4 near-ties may break differently.
    assert cp.objective == pytest.approx(hi.objective, rel=1e-8)
    assert_bound_valid(cp, hi.objective)


def test_default_threads_is_two_workers() -> None:
    cp = CpSatBackend().solve(assignment_with_soft_row(), SolveOptions(time_limit=LIMIT))
    assert "num_workers: 2" in cp.log


def test_progress_reports_only_plans() -> None:
    # Bounds, timing and the last report are checked for every backend in the contract suite;
    # CP-SAT reports at solutions only, so never an infinite objective (HiGHS may).
    reports: list[Progress] = []
    CpSatBackend().solve(assignment_with_soft_row(),
                         SolveOptions(time_limit=LIMIT, progress=reports.append))
    assert reports
    assert all(np.isfinite(report.objective) for report in reports)


def test_a_failing_progress_callback_raises_after_the_solve() -> None:
    def fail(_: Progress) -> None:
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        CpSatBackend().solve(assignment_with_soft_row(),
                             SolveOptions(time_limit=LIMIT, progress=fail))


def test_quiet_solves_keep_the_log(capfd: pytest.CaptureFixture[str]) -> None:
    # Nothing on stdout: the contract suite; the log is captured instead.
    cp = CpSatBackend().solve(assignment_with_soft_row(), SolveOptions(time_limit=LIMIT))
    capfd.readouterr()
    assert "CP-SAT solver" in cp.log


def test_verbose_solves_log_to_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    CpSatBackend().solve(assignment_with_soft_row(),
                         SolveOptions(time_limit=LIMIT, verbose=True))
    assert "CP-SAT solver" in capfd.readouterr().out


def test_a_work_limit_runs_one_worker_without_a_time_limit() -> None:
    model = random_assignment(40, 4, 0.05, seed=2)
    result = CpSatBackend().solve(model, SolveOptions(time_limit=0.001, threads=2,
                                                      work_limit=100.0))
    assert result.status == Status.OPTIMAL, result.log
    assert "1 worker instead of 2" in result.log
    assert "cpsat: 1 workers, interleave_search=False" in result.log
    assert "work limit 100 deterministic seconds, no time limit" in result.log
    assert 0 < result.work < 100.0  # CP-SAT's deterministic time, not the limit
