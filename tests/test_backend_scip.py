"""The SCIP backend (OR-Tools ``pywraplp``): what only it does (what every backend must do is in
test_backend_contract.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from linear_models import assignment_with_slack, odd_shapes
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
    assert not backend.capabilities.live_progress
    assert "no live progress" in backend.capabilities.notes
    assert "memory" in backend.capabilities.notes


@pytest.mark.parametrize("make", [assignment_with_slack, odd_shapes])
def test_bound_is_scips_own(scip: Backend, make: Callable[[], LinearModel]) -> None:
    # Optimum, feasibility, bound and the single progress report: the contract suite.
    result = scip.solve(make(), SolveOptions(time_limit=10))
    assert result.status == Status.OPTIMAL, result.log
    assert result.bound_source == "SCIP dual bound"


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


def test_threads_run_the_concurrent_solve(scip: Backend) -> None:
    """Two threads run SCIP's concurrent solve (that a loose gap never gives a wrong answer: the
    contract suite)."""
    result = scip.solve(assignment_with_slack(), SolveOptions(time_limit=10, threads=2, gap=0.5))
    assert "threads 2" in result.log
