"""The backend contract (:mod:`territory_opt.backends.contract`) on every installed backend that
solves a bare LinearModel, and the registry (:mod:`territory_opt.backends.registry`).

Each standard problem runs on every such backend; what a backend may lack (warm start, live
progress, stopping a running solve, determinism) is read from its ``Capabilities``, never from
its name. Checks that only make sense for one backend (CP-SAT's integer scaling, CBC's log
parsing, SCIP's hints) live in ``test_backend_<name>.py``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from linear_models import (
    ASSIGNMENT_WITH_SLACK_OPTIMUM,
    assignment_with_slack,
    balanced,
    feasible,
    infeasible,
    odd_shapes,
    pigeonhole,
    random_assignment,
)
from territory_opt.backends.contract import (
    OPTIMALITY_GAP,
    Backend,
    Capabilities,
    IncrementalLp,
    Progress,
    SolveOptions,
    SolveResult,
    Status,
)
from territory_opt.backends.linear import LinearModel
from territory_opt.backends.registry import (
    REGISTRY,
    get_backend,
    lp_engine,
    registered_backends,
)
from territory_opt.errors import BackendError

ALIGNMENT_ONLY = frozenset({"heuristic"})
"""Registered backends that need an alignment model, not a bare LinearModel."""

INSTALLED = [b.name for b in registered_backends() if b.available()]
SOLVERS = [name for name in INSTALLED if name not in ALIGNMENT_ONLY]
"""Every installed backend that solves a bare LinearModel (``pulp:NAME`` ones too)."""

NATIVE_MODULE = {"highs": "highspy", "cpsat": "ortools", "scip": "ortools"}
"""The solver module each native backend must not import to answer ``available()``. PuLP's
backends are exempt: asking PuLP is the only way to learn whether its solver exists."""


@pytest.fixture(params=SOLVERS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(str(request.param))


def _solvers_that(claim: Callable[[Capabilities], bool]) -> list[str]:
    """The solvers whose declared capabilities make ``claim`` true: a check of a capability
    runs on exactly those that declare it (none is skipped)."""
    return [name for name in SOLVERS if claim(get_backend(name).capabilities)]


STOPPABLE = _solvers_that(lambda c: c.stop)
DETERMINISTIC = _solvers_that(lambda c: c.deterministic)
WORK_LIMITED = _solvers_that(lambda c: c.work_limit)
NOT_WORK_LIMITED = [name for name in SOLVERS if name not in WORK_LIMITED]


def check(model: LinearModel, result: SolveResult) -> None:
    """What every result must satisfy, whatever its status."""
    assert isinstance(result.status, Status)
    assert result.seconds >= 0
    if result.x is None:
        assert not result.status.has_plan, result.status
        assert result.objective == np.inf
    else:
        assert result.status.has_plan, result.status
        assert feasible(model, result.x)
        assert result.objective == pytest.approx(model.objective(result.x), rel=1e-9, abs=1e-9)
        assert result.bound <= result.objective + 1e-9 * max(1.0, abs(result.objective))
    if result.status == Status.OPTIMAL:
        assert result.gap <= OPTIMALITY_GAP
    if np.isfinite(result.bound):
        assert result.bound_source, "a finite bound says where it comes from"


# --- registry ---------------------------------------------------------------------------------


def test_the_expected_backends_are_installed() -> None:
    # The test extras install every solver: a backend missing here is a packaging bug.
    assert {"highs", "cpsat", "scip", "cbc"} <= set(SOLVERS)


def test_registered_backends_come_in_preference_order() -> None:
    names = [b.name for b in registered_backends()]
    assert names[:len(REGISTRY)] == list(REGISTRY)
    assert names[:4] == ["highs", "cpsat", "scip", "cbc"]
    assert all(name.startswith("pulp:") for name in names[len(REGISTRY):])


def test_every_registered_backend_fulfils_the_protocol() -> None:
    for backend in registered_backends():
        assert isinstance(backend, Backend), backend
        assert isinstance(backend.capabilities, Capabilities)
        assert isinstance(backend.available(), bool)


def test_names_resolve_and_unknown_names_list_the_known_ones() -> None:
    for name in SOLVERS:
        assert get_backend(name).name == name
    with pytest.raises(BackendError, match="known: highs, cpsat"):
        get_backend("no-such-solver")


def test_a_users_own_backend_object_passes_through() -> None:
    mine = get_backend("highs")
    assert get_backend(mine) is mine


def test_lp_engine_opens_incremental_sessions() -> None:
    engine = lp_engine()
    assert isinstance(engine, IncrementalLp) and engine.capabilities.incremental_lp
    assert engine.name == "highs"
    model = assignment_with_slack()
    relaxed = LinearModel(c=model.c, offset=model.offset, lb=model.lb, ub=model.ub,
                          integer=np.zeros(model.n_cols, dtype=bool), a=model.a,
                          row_lo=model.row_lo, row_hi=model.row_hi)
    session = engine.lp_session(relaxed, {"output_flag": False, "random_seed": 3})
    session.run()
    first = float(session.getInfo().objective_function_value)
    assert first <= 19.5 + 1e-9  # the LP relaxation
    assert session.getOptions().random_seed == 3
    # Fix item 0 (weight 3) out of group 0: the LP must move, so the session is live.
    session.changeColsBounds(1, np.array([0], dtype=np.int32), np.zeros(1), np.zeros(1))
    session.run()
    assert float(session.getInfo().objective_function_value) >= first - 1e-9


def test_the_alignment_heuristic_refuses_a_bare_model() -> None:
    heuristic = get_backend("heuristic")
    result = heuristic.solve(assignment_with_slack(), SolveOptions(time_limit=5))
    assert result.status == Status.ERROR
    assert "alignment" in result.log
    assert result.x is None and result.objective == np.inf


@pytest.mark.parametrize("name", [n for n in SOLVERS if n in NATIVE_MODULE])
def test_available_imports_no_solver(name: str) -> None:
    script = (
        "import sys\n"
        "from territory_opt.backends.registry import REGISTRY\n"
        f"assert REGISTRY[{name!r}]().available()\n"
        "print(sorted(m for m in ('highspy', 'ortools', 'pulp') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out


# --- standard problems, every backend ---------------------------------------------------------


@pytest.mark.parametrize(("make", "optimum"), [(assignment_with_slack, 19.5), (odd_shapes, 3.0)])
def test_reaches_the_known_optimum(backend: Backend, make: Callable[[], LinearModel],
                                   optimum: float) -> None:
    model = make()
    result = backend.solve(model, SolveOptions(time_limit=10))
    check(model, result)
    assert result.status == Status.OPTIMAL, result.log
    assert result.stop_reason == "proven optimal"
    assert result.objective == pytest.approx(optimum, abs=1e-6)
    assert result.x is not None
    assert result.objective == pytest.approx(model.objective(result.x), abs=1e-9)
    assert result.bound <= result.objective + 1e-9
    assert result.bound == pytest.approx(result.objective, rel=OPTIMALITY_GAP)
    assert result.x is not None
    if make is assignment_with_slack:  # its optimum is unique: slack 2, item 0 in group 0
        assert result.x == pytest.approx(ASSIGNMENT_WITH_SLACK_OPTIMUM, abs=1e-6)
    else:
        assert result.x[0] == pytest.approx(3.0)


@pytest.mark.parametrize("make", [infeasible, pigeonhole])
def test_infeasible_model_is_infeasible(backend: Backend, make: Callable[[], LinearModel]) -> None:
    model = make()
    result = backend.solve(model, SolveOptions(time_limit=10))
    check(model, result)
    assert result.status == Status.INFEASIBLE, result.log
    assert result.x is None and result.objective == float("inf")


def test_time_limit_ends_with_a_plan_or_none(backend: Backend) -> None:
    model, _ = balanced(300, 10, 0.001, seed=0)  # none of the solvers proves this in 1 s
    started = time.perf_counter()
    result = backend.solve(model, SolveOptions(time_limit=1, gap=0))
    assert time.perf_counter() - started < 10.0
    check(model, result)
    assert result.status in (Status.FEASIBLE, Status.NO_PLAN), result.log
    assert result.stop_reason == "time limit"


def test_time_limit_keeps_the_warm_start(backend: Backend) -> None:
    """A start the solver cannot beat or prove in 1 s: a backend that takes warm starts ends
    FEASIBLE with a plan no worse than the start, and a bound below it."""
    model, start = balanced(300, 10, 0.001, seed=0)
    result = backend.solve(model, SolveOptions(time_limit=1, gap=0, warm_start=start))
    check(model, result)
    assert result.stop_reason == "time limit"
    assert result.seconds < 10
    if not backend.capabilities.warm_start:
        assert result.status in (Status.FEASIBLE, Status.NO_PLAN), result.log
        return
    assert result.status == Status.FEASIBLE, result.log
    assert result.objective <= model.objective(start) + 1e-6
    assert result.bound < result.objective


def test_warm_start_is_accepted_feasible_or_not(backend: Backend) -> None:
    model = assignment_with_slack()
    for start in (ASSIGNMENT_WITH_SLACK_OPTIMUM, np.ones(model.n_cols)):  # optimum; infeasible
        result = backend.solve(model, SolveOptions(time_limit=10, warm_start=start))
        check(model, result)
        assert result.status == Status.OPTIMAL, result.log
        assert result.objective == pytest.approx(19.5, abs=1e-6)


@pytest.mark.parametrize("make", [assignment_with_slack, lambda: balanced(60, 5, 0.05, seed=3)[0]],
                         ids=["tiny", "balanced"])
def test_progress_reports(backend: Backend, make: Callable[[], LinearModel]) -> None:
    model = make()
    reports: list[Progress] = []
    result = backend.solve(model, SolveOptions(time_limit=10, progress=reports.append))
    check(model, result)
    assert result.status == Status.OPTIMAL, result.log
    assert reports
    for report in reports:
        assert isinstance(report, Progress)
        assert isinstance(report.objective, float) and isinstance(report.bound, float)
        assert report.seconds >= 0  # objective +inf until the first plan (HiGHS says so)
        assert report.bound <= report.objective + 1e-9
    assert reports[-1].objective == pytest.approx(result.objective)
    if not backend.capabilities.live_progress:
        assert len(reports) == 1  # one report at the end


def test_stop_set_before_the_solve_returns_at_once(backend: Backend) -> None:
    stop = threading.Event()
    stop.set()
    model, _ = balanced(300, 10, 0.001, seed=0)
    started = time.perf_counter()
    result = backend.solve(model, SolveOptions(time_limit=30, stop=stop))
    assert time.perf_counter() - started < 1.0
    check(model, result)
    assert result.status == Status.NO_PLAN
    assert result.stop_reason == "interrupted"


@pytest.mark.parametrize("backend", STOPPABLE, indirect=True)
@pytest.mark.parametrize("with_start", [True, False], ids=["start", "no-start"])
def test_stop_during_the_solve_returns_soon_with_the_best_plan(backend: Backend,
                                                             with_start: bool) -> None:
    if with_start:
        model, start = balanced(300, 10, 0.001, seed=0)
    else:
        model, start = random_assignment(400, 10, 0.004, seed=1), None  # far longer than 1 s
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    started = time.perf_counter()
    try:
        result = backend.solve(model, SolveOptions(time_limit=60, gap=0, warm_start=start,
                                                    stop=stop))
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 10.0
    check(model, result)
    assert result.status in (Status.FEASIBLE, Status.NO_PLAN, Status.OPTIMAL)
    if result.status != Status.OPTIMAL:
        assert result.stop_reason == "interrupted"
    if with_start and backend.capabilities.warm_start:
        assert result.status == Status.FEASIBLE, result.log  # the start at least


@pytest.mark.parametrize("backend", DETERMINISTIC, indirect=True)
def test_same_seed_gives_the_same_plan(backend: Backend) -> None:
    """Many optima (no costs): one seed picks the same one each time."""
    model, _ = balanced(60, 5, 0.05, seed=3, costs=False)
    options = SolveOptions(time_limit=20, seed=7)
    first, second = backend.solve(model, options), backend.solve(model, options)
    check(model, first)
    assert first.status == second.status == Status.OPTIMAL
    assert first.x is not None and second.x is not None
    assert np.array_equal(first.x, second.x)


def test_threads_and_a_loose_gap_never_give_a_wrong_answer(backend: Backend) -> None:
    model = assignment_with_slack()
    result = backend.solve(model, SolveOptions(time_limit=10, threads=2, gap=0.5))
    check(model, result)
    assert result.status.has_plan, result.log
    assert result.bound <= 19.5 + 1e-6 <= result.objective + 1e-6


def test_loose_gap_is_not_called_optimal(backend: Backend) -> None:
    model, _ = balanced(100, 10, 0.01, seed=1)
    limit = 10.0
    result = backend.solve(model, SolveOptions(time_limit=limit, gap=0.2))
    check(model, result)
    assert result.status.has_plan, result.log
    if result.status == Status.OPTIMAL:
        assert result.gap <= OPTIMALITY_GAP
    elif result.stop_reason == "time limit":
        assert result.seconds >= 0.9 * limit
    else:
        assert result.stop_reason.startswith("gap target reached"), result.stop_reason


def test_quiet_solves_print_nothing(backend: Backend, capfd: pytest.CaptureFixture[str]) -> None:
    result = backend.solve(assignment_with_slack(), SolveOptions(time_limit=10))
    assert capfd.readouterr().out == ""  # it would corrupt --json output
    assert result.status == Status.OPTIMAL


# --- work limit (deterministic effort) --------------------------------------------------------

WORK_LIMITS = {"highs": 20.0, "cpsat": 0.5}
"""Work limits (in each backend's ``Capabilities.work_unit``) that stop it on
``balanced(60, 5, 0.002, seed=3)`` with a plan but before it proves the optimum: HiGHS
proves it after about 1,900 nodes, CP-SAT after more than 0.5 deterministic seconds."""


@pytest.mark.parametrize("backend", WORK_LIMITED, indirect=True)
def test_a_work_limit_gives_the_same_plan_whatever_the_clock(backend: Backend) -> None:
    """The time limit (0.001 s) would leave no plan: a work limit sets it aside, stops the
    search on effort, and gives the same plan twice, with the effort done reported."""
    model, _ = balanced(60, 5, 0.002, seed=3)
    options = SolveOptions(time_limit=0.001, gap=0, threads=1, seed=0,
                           work_limit=WORK_LIMITS.get(backend.name, 1.0))
    first, second = backend.solve(model, options), backend.solve(model, options)
    for result in (first, second):
        check(model, result)
        assert result.status == Status.FEASIBLE, result.log
        assert result.stop_reason == "work limit"
        assert result.work > 0
    assert first.x is not None and second.x is not None
    assert np.array_equal(first.x, second.x)
    assert first.objective == second.objective
    assert first.bound == second.bound
    assert first.work == second.work


@pytest.mark.parametrize("backend", WORK_LIMITED, indirect=True)
def test_a_generous_work_limit_still_proves_the_optimum(backend: Backend) -> None:
    model = assignment_with_slack()
    result = backend.solve(model, SolveOptions(time_limit=0.001, work_limit=1e6))
    check(model, result)
    assert result.status == Status.OPTIMAL, result.log
    assert result.objective == pytest.approx(19.5, abs=1e-6)


@pytest.mark.parametrize("backend", NOT_WORK_LIMITED, indirect=True)
def test_a_work_limit_is_refused_without_a_deterministic_mode(backend: Backend) -> None:
    assert backend.capabilities.work_unit == ""
    model = assignment_with_slack()
    result = backend.solve(model, SolveOptions(time_limit=10, work_limit=100))
    check(model, result)
    assert result.status == Status.ERROR
    assert "work_limit" in result.log and "no deterministic work limit" in result.log
    assert result.stop_reason == "work_limit not supported"
    assert result.work == 0.0


def test_work_units_are_declared() -> None:
    units = {b.name: b.capabilities.work_unit for b in registered_backends()}
    assert "nodes" in units["highs"] and "simplex iterations" in units["highs"]
    assert "deterministic" in units["cpsat"]
    assert units["scip"] == units["cbc"] == ""
