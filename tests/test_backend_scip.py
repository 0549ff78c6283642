"""The SCIP backend (OR-Tools ``pywraplp``) on small hand-built models, checked against HiGHS."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from linear_models import assignment_with_slack, balanced, feasible, infeasible, odd_shapes
from territory_opt.backends.contract import Backend, SolveOptions, Status
from territory_opt.backends.highs import HighsBackend
from territory_opt.backends.linear import LinearModel
from territory_opt.backends.registry import REGISTRY, get_backend
from territory_opt.backends.scip import ScipBackend

pytest.importorskip("ortools")



@pytest.fixture
def scip() -> Backend:
    backend = ScipBackend()
    if not backend.available():
        pytest.skip("OR-Tools is not installed")
    return backend


def test_registered_and_honest() -> None:
    backend = get_backend("scip")
    assert isinstance(backend, ScipBackend)
    assert "scip" in REGISTRY
    assert backend.capabilities.deterministic and backend.capabilities.bound
    assert "no live progress" in backend.capabilities.notes
    assert "memory" in backend.capabilities.notes


@pytest.mark.parametrize("make", [assignment_with_slack, odd_shapes])
def test_matches_highs(scip: Backend, make: Callable[[], LinearModel]) -> None:
    model = make()
    reference = HighsBackend().solve(model, SolveOptions(time_limit=10))
    reports: list[object] = []
    result = scip.solve(model, SolveOptions(time_limit=10, progress=reports.append))
    assert result.status == Status.OPTIMAL, result.log
    assert result.x is not None and feasible(model, result.x)
    assert result.objective == pytest.approx(reference.objective, abs=1e-6)
    assert result.objective == pytest.approx(model.objective(result.x), abs=1e-6)
    assert result.bound <= result.objective + 1e-9
    assert result.bound == pytest.approx(result.objective, rel=1e-4)
    assert result.bound_source == "SCIP dual bound"
    assert len(reports) == 1  # no live progress: one report at the end


def test_slack_and_offset_values(scip: Backend) -> None:
    result = scip.solve(assignment_with_slack(), SolveOptions(time_limit=10))
    assert result.x is not None
    assert result.objective == pytest.approx(19.5)
    assert result.x[-1] == pytest.approx(2.0)  # the continuous slack
    assert result.x[0] == pytest.approx(1.0)  # item 0 in group 0


def test_infeasible(scip: Backend) -> None:
    result = scip.solve(infeasible(), SolveOptions(time_limit=10))
    assert result.status == Status.INFEASIBLE
    assert result.x is None and result.objective == float("inf")
    assert HighsBackend().solve(infeasible(), SolveOptions()).status == Status.INFEASIBLE


def test_warm_start_is_completed_as_partial_solution(
    scip: Backend, capfd: pytest.CaptureFixture[str]
) -> None:
    """Only integer columns are hinted: SCIP's completesol heuristic fills in the slack.

    The start's slack value (99) is wrong on purpose; SCIP's log (stdout, verbose) shows the
    partial solution being completed.
    """
    model = assignment_with_slack()
    start = HighsBackend().solve(model, SolveOptions()).x
    assert start is not None
    start = start.copy()
    start[-1] = 99.0
    result = scip.solve(model, SolveOptions(time_limit=10, verbose=True, warm_start=start))
    out = capfd.readouterr().out
    assert "completesol" in out
    assert result.status == Status.OPTIMAL
    assert result.objective == pytest.approx(19.5)
    assert "hinted 8 integer columns" in result.log


def test_infeasible_warm_start_is_harmless(scip: Backend) -> None:
    model = assignment_with_slack()
    result = scip.solve(model, SolveOptions(time_limit=10, warm_start=np.ones(model.n_cols)))
    assert result.status == Status.OPTIMAL
    assert result.objective == pytest.approx(19.5)


def test_same_seed_same_plan(scip: Backend) -> None:
    """Many optima (no costs): one thread and one seed must pick the same one each time."""
    model, _ = balanced(60, 5, 0.05, seed=3, costs=False)
    options = SolveOptions(time_limit=20, seed=7)
    first, second = scip.solve(model, options), scip.solve(model, options)
    assert first.status == second.status == Status.OPTIMAL
    assert first.x is not None and second.x is not None
    assert np.array_equal(first.x, second.x)


def test_time_limit_keeps_the_plan(scip: Backend) -> None:
    """A start that SCIP cannot beat or prove in 1 s: FEASIBLE, with SCIP's bound."""
    model, start = balanced(300, 10, 0.001, seed=0)
    result = scip.solve(model, SolveOptions(time_limit=1, gap=0, warm_start=start))
    assert result.status == Status.FEASIBLE, result.log
    assert result.stop_reason == "time limit"
    assert result.x is not None and feasible(model, result.x)
    assert result.objective <= model.objective(start) + 1e-6
    assert result.bound < result.objective


def test_stop_returns_the_best_plan(scip: Backend) -> None:
    model, start = balanced(300, 10, 0.001, seed=0)
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    result = scip.solve(model, SolveOptions(time_limit=60, gap=0, warm_start=start, stop=stop))
    timer.cancel()
    assert result.status == Status.FEASIBLE
    assert result.stop_reason == "interrupted"
    assert result.seconds < 20
    assert result.x is not None and feasible(model, result.x)


def test_stop_before_start(scip: Backend) -> None:
    stop = threading.Event()
    stop.set()
    result = scip.solve(assignment_with_slack(), SolveOptions(stop=stop))
    assert result.status == Status.NO_PLAN
    assert result.stop_reason == "interrupted"


def test_threads_and_loose_gap(scip: Backend) -> None:
    """Two threads run SCIP's concurrent solve; a loose gap may end FEASIBLE, never wrong."""
    model = assignment_with_slack()
    result = scip.solve(model, SolveOptions(time_limit=10, threads=2, gap=0.5))
    assert result.status.has_plan
    assert result.bound <= 19.5 + 1e-6 <= result.objective + 1e-6
    assert "threads 2" in result.log
