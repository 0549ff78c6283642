"""The PuLP backends (``cbc`` and ``pulp:NAME``): what only they do (what every backend must do
is in test_backend_contract.py).

Includes the PuLP gotcha: a CBC run cut by its time limit with a solution is reported by PuLP as
``status == 1`` ("Optimal"); the backend must say FEASIBLE.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from linear_models import ASSIGNMENT_WITH_SLACK_OPTIMUM, assignment_with_slack, balanced, odd_shapes
from territory_opt.backends.contract import Backend, SolveOptions, Status
from territory_opt.backends.linear import LinearModel
from territory_opt.backends.pulp import (
    PulpBackend,
    _cbc_bound,
    _map_status,
    other_pulp_backends,
)
from territory_opt.backends.registry import get_backend, registered_backends

pulp = pytest.importorskip("pulp")



# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def cbc() -> Backend:
    backend = get_backend("cbc")
    assert isinstance(backend, PulpBackend)
    return backend


def _pulp_highs() -> Backend:
    backend = PulpBackend("HiGHS")
    if not backend.available():
        pytest.skip("PuLP finds no HiGHS here")
    return backend


# --- registry ---------------------------------------------------------------------------------


def test_cbc_is_registered(cbc: PulpBackend) -> None:
    assert cbc.name == "cbc" and cbc.solver_name == "PULP_CBC_CMD"
    assert cbc.capabilities.bound and cbc.capabilities.warm_start
    assert not cbc.capabilities.live_progress and cbc.capabilities.stop
    assert "no live progress" in cbc.capabilities.notes


def test_other_pulp_backends_include_highs_not_cbc() -> None:
    names = [b.name for b in other_pulp_backends()]
    assert "pulp:HiGHS" in names
    assert not any("CBC" in name for name in names)
    assert "pulp:HiGHS" in [b.name for b in registered_backends()]
    assert get_backend("pulp:HiGHS").available()


def test_unknown_solver_is_unavailable() -> None:
    assert not PulpBackend("NO_SUCH_SOLVER").available()
    with pytest.raises(KeyError, match="not installed"):
        get_backend("pulp:NO_SUCH_SOLVER")


# --- solving ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [assignment_with_slack, odd_shapes])
@pytest.mark.parametrize("solver", ["cbc", "pulp:HiGHS"])
def test_optimal_bound_comes_from_the_proof(solver: str, make: Callable[[], LinearModel]) -> None:
    # Optimum, feasibility, bound and the single progress report: the contract suite.
    backend = _pulp_highs() if solver == "pulp:HiGHS" else get_backend(solver)
    result = backend.solve(make(), SolveOptions(time_limit=10))
    assert result.status == Status.OPTIMAL, result.log
    assert result.bound == pytest.approx(result.objective)  # the proof: no gap at all
    assert result.bound_source.startswith("proven optimal")


def test_unused_column_takes_its_bound_nearest_zero(cbc: Backend) -> None:
    # The slack and the offset of assignment_with_slack: the contract suite.
    shapes = cbc.solve(odd_shapes(), SolveOptions(time_limit=10))
    assert shapes.x is not None
    assert shapes.x.tolist() == [3.0, 2.0]


def test_warm_start_reaches_cbc(cbc: Backend) -> None:
    # That the plan is then optimal, with a feasible start or not: the contract suite.
    model = assignment_with_slack()
    result = cbc.solve(model, SolveOptions(time_limit=10, warm_start=ASSIGNMENT_WITH_SLACK_OPTIMUM))
    assert "MIPStart values read" in result.log


def test_same_seed_same_plan_in_parallel_mode(cbc: Backend) -> None:
    """Many optima (no costs): one seed picks the same one each time with threads (100+n mode;
    the default thread count: the contract suite)."""
    model, _ = balanced(60, 5, 0.05, seed=3, costs=False)
    options = SolveOptions(time_limit=20, seed=7, threads=2)
    first, second = cbc.solve(model, options), cbc.solve(model, options)
    assert first.status == second.status == Status.OPTIMAL
    assert first.x is not None and second.x is not None
    assert np.array_equal(first.x, second.x)
    assert "randomCbcSeed 8" in first.log


def test_seed_zero_is_not_passed_as_time_of_day(cbc: Backend) -> None:
    result = cbc.solve(assignment_with_slack(), SolveOptions(time_limit=10, seed=7))
    assert "randomCbcSeed 8" in result.log  # seed 0 would mean "time of day" to CBC


def test_time_limit_with_a_plan_is_feasible_not_optimal(cbc: Backend) -> None:
    """The PuLP gotcha. CBC finds no plan of this model in a minute by itself; the MIP start
    gives it one, so at the 1 s limit it stops with "Stopped on time - objective value ...",
    which PuLP reads as status 1 ("Optimal") with sol_status 2 (integer feasible). (Stop
    reason, plan, bound and timing: the contract suite.)"""
    model, start = balanced(300, 10, 0.001, seed=0)
    result = cbc.solve(model, SolveOptions(time_limit=1, warm_start=start))
    assert result.status == Status.FEASIBLE, result.log
    assert "Stopped on time" in result.log
    assert result.bound_source == "CBC dual bound (from its log)"


def test_status_mapping_reads_sol_status() -> None:
    c = pulp.constants
    assert _map_status(pulp, c.LpStatusOptimal, c.LpSolutionIntegerFeasible, False) == (
        Status.FEASIBLE, "time limit")
    assert _map_status(pulp, c.LpStatusOptimal, c.LpSolutionOptimal, False)[0] == Status.OPTIMAL
    assert _map_status(pulp, c.LpStatusNotSolved, c.LpSolutionNoSolutionFound, True) == (
        Status.NO_PLAN, "interrupted")
    assert _map_status(pulp, c.LpStatusInfeasible, c.LpSolutionNoSolutionFound,
                       False)[0] == Status.INFEASIBLE


def test_cbc_bound_from_log() -> None:
    """CBC's numbers lack the objective's constant (here 5) and are rounded: shift, round down."""
    log = ("Cbc0011I Exiting as integer gap of 0.1 less than 0.2\n"
           "Result - Optimal solution found (within gap tolerance)\n\n"
           "Objective value:                100.00000000\n"
           "Lower bound:                    95.123\nGap:                            0.05\n")
    bound, source = _cbc_bound(log, 105.0)
    assert source == "CBC dual bound (from its log)"
    assert bound == pytest.approx(100.123 - 0.0005 - 5e-9)
    exact = "Result - Optimal solution found\n\nObjective value:    100.00000000\n"
    assert _cbc_bound(exact, 105.0) == (105.0, "proven optimal (CBC)")
    assert _cbc_bound("no summary", 105.0) == (float("-inf"), "")


def test_stop_keeps_cbc_best_plan(cbc: Backend) -> None:
    """SIGINT makes CBC write its best solution, which PuLP then reads (the plan, its status
    and the timing: the contract suite)."""
    model, start = balanced(300, 10, 0.001, seed=0)
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    result = cbc.solve(model, SolveOptions(time_limit=60, warm_start=start, stop=stop))
    timer.cancel()
    assert result.status == Status.FEASIBLE, result.log
    assert "ctrl-c" in result.log


def test_temporary_files_are_removed(cbc: Backend, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = cbc.solve(assignment_with_slack(), SolveOptions(time_limit=10, warm_start=None))
    assert result.status == Status.OPTIMAL
    assert list(tmp_path.iterdir()) == []


def test_verbose_echoes_the_log(cbc: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    result = cbc.solve(assignment_with_slack(), SolveOptions(time_limit=10, verbose=True))
    out = capsys.readouterr().out
    assert "Result - Optimal solution found" in out
    assert "Result - Optimal solution found" in result.log


def test_pulp_highs_keeps_its_log() -> None:
    # Nothing on stdout (no HiGHS banner): the contract suite.
    backend = _pulp_highs()
    assert not backend.capabilities.stop and not backend.capabilities.live_progress
    result = backend.solve(assignment_with_slack(), SolveOptions(time_limit=10))
    assert "HiGHS" in result.log
