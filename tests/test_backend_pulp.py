"""The PuLP backends (``cbc`` and ``pulp:NAME``) on small hand-built models, checked against HiGHS.

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

from linear_models import assignment_with_slack, balanced, feasible, infeasible, odd_shapes
from territory_opt.backends.contract import Backend, Progress, SolveOptions, Status
from territory_opt.backends.highs import HighsBackend
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
def test_matches_highs(solver: str, make: Callable[[], LinearModel]) -> None:
    backend = _pulp_highs() if solver == "pulp:HiGHS" else get_backend(solver)
    model = make()
    reference = HighsBackend().solve(model, SolveOptions(time_limit=10))
    reports: list[Progress] = []
    result = backend.solve(model, SolveOptions(time_limit=10, progress=reports.append))
    assert result.status == Status.OPTIMAL, result.log
    assert result.x is not None and feasible(model, result.x)
    assert result.objective == pytest.approx(reference.objective, abs=1e-6)
    assert result.objective == pytest.approx(model.objective(result.x), abs=1e-9)
    assert result.bound == pytest.approx(result.objective)
    assert result.bound_source.startswith("proven optimal")
    assert len(reports) == 1  # no live progress: one report at the end


def test_slack_unused_column_and_offset(cbc: Backend) -> None:
    result = cbc.solve(assignment_with_slack(), SolveOptions(time_limit=10))
    assert result.x is not None
    assert result.objective == pytest.approx(19.5)
    assert result.x[-1] == pytest.approx(2.0)  # the continuous slack
    shapes = cbc.solve(odd_shapes(), SolveOptions(time_limit=10))
    assert shapes.x is not None
    assert shapes.x.tolist() == [3.0, 2.0]  # the unused column takes its bound nearest zero


@pytest.mark.parametrize("solver", ["cbc", "pulp:HiGHS"])
def test_infeasible(solver: str) -> None:
    backend = _pulp_highs() if solver == "pulp:HiGHS" else get_backend(solver)
    result = backend.solve(infeasible(), SolveOptions(time_limit=10))
    assert result.status == Status.INFEASIBLE, result.log
    assert result.x is None and result.objective == float("inf")


def test_warm_start_reaches_cbc(cbc: Backend) -> None:
    model = assignment_with_slack()
    start = HighsBackend().solve(model, SolveOptions()).x
    result = cbc.solve(model, SolveOptions(time_limit=10, warm_start=start))
    assert "MIPStart values read" in result.log
    assert result.status == Status.OPTIMAL and result.objective == pytest.approx(19.5)
    bad = cbc.solve(model, SolveOptions(time_limit=10, warm_start=np.ones(model.n_cols)))
    assert bad.status == Status.OPTIMAL and bad.objective == pytest.approx(19.5)


@pytest.mark.parametrize("threads", [None, 2])
def test_same_seed_same_plan(cbc: Backend, threads: int | None) -> None:
    """Many optima (no costs): one seed picks the same one each time (threads: 100+n mode)."""
    model, _ = balanced(60, 5, 0.05, seed=3, costs=False)
    options = SolveOptions(time_limit=20, seed=7, threads=threads)
    first, second = cbc.solve(model, options), cbc.solve(model, options)
    assert first.status == second.status == Status.OPTIMAL
    assert first.x is not None and second.x is not None
    assert np.array_equal(first.x, second.x)
    assert "randomCbcSeed 8" in first.log  # seed 0 would mean "time of day" to CBC


def test_time_limit_with_a_plan_is_feasible_not_optimal(cbc: Backend) -> None:
    """The PuLP gotcha. CBC finds no plan of this model in a minute by itself; the MIP start
    gives it one, so at the 1 s limit it stops with "Stopped on time - objective value ...",
    which PuLP reads as status 1 ("Optimal") with sol_status 2 (integer feasible)."""
    model, start = balanced(300, 10, 0.001, seed=0)
    result = cbc.solve(model, SolveOptions(time_limit=1, warm_start=start))
    assert result.status == Status.FEASIBLE, result.log
    assert result.stop_reason == "time limit"
    assert "Stopped on time" in result.log
    assert result.x is not None and feasible(model, result.x)
    assert result.objective <= model.objective(start) + 1e-6
    assert result.bound < result.objective
    assert result.bound_source == "CBC dual bound (from its log)"
    assert result.seconds < 10


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


def test_loose_gap_is_not_called_optimal(cbc: Backend) -> None:
    model, _ = balanced(100, 10, 0.01, seed=1)
    result = cbc.solve(model, SolveOptions(time_limit=10, gap=0.2))
    assert result.status.has_plan, result.log
    assert result.bound <= result.objective
    if result.status == Status.OPTIMAL:
        assert result.gap <= 1e-4
    else:
        assert result.stop_reason == "gap target reached"


def test_stop_keeps_cbc_best_plan(cbc: Backend) -> None:
    """SIGINT makes CBC write its best solution, which PuLP then reads."""
    model, start = balanced(300, 10, 0.001, seed=0)
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    result = cbc.solve(model, SolveOptions(time_limit=60, warm_start=start, stop=stop))
    timer.cancel()
    assert result.status == Status.FEASIBLE, result.log
    assert result.stop_reason == "interrupted"
    assert "ctrl-c" in result.log
    assert result.seconds < 10
    assert result.x is not None and feasible(model, result.x)


def test_stop_before_start(cbc: Backend) -> None:
    stop = threading.Event()
    stop.set()
    result = cbc.solve(assignment_with_slack(), SolveOptions(stop=stop))
    assert result.status == Status.NO_PLAN and result.stop_reason == "interrupted"


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


def test_pulp_highs_is_quiet_and_logs(capfd: pytest.CaptureFixture[str]) -> None:
    backend = _pulp_highs()
    result = backend.solve(assignment_with_slack(), SolveOptions(time_limit=10))
    out = capfd.readouterr().out
    assert out == ""  # no HiGHS banner or log on stdout (it would corrupt --json output)
    assert "HiGHS" in result.log and result.objective == pytest.approx(19.5)
