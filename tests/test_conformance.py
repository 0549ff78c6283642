"""Conformance: every installed backend reaches the brute-force optimum of every tiny scenario.

Backends run without the construction's warm start, so each is judged on its own. Plans are
re-checked by the KPI evaluator (feasibility, objective recomputed independently) and bounds
must be valid. Objectives are compared, never assignments: ties may differ between solvers.
The backends themselves, on bare linear models, and which must be installed:
test_backend_contract.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cases import VARIANTS, write_scenario
from territory_opt import evaluate, load_scenario, solve
from territory_opt.backends.contract import Status
from territory_opt.backends.registry import get_backend, registered_backends
from territory_opt.scenario.model import Scenario
from variant_optima import VARIANT_OPTIMA

INSTALLED = [b.name for b in registered_backends() if b.available()]


@pytest.fixture(scope="module")
def optima(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Scenario, float]]:
    """Each tiny scenario with its stored brute-force optimum (checked by a slow test in
    ``test_end_to_end.py``)."""
    out = {}
    for name, variant in VARIANTS.items():
        folder = tmp_path_factory.mktemp("case")
        scenario = load_scenario(write_scenario(folder, variant))
        out[name] = (scenario, VARIANT_OPTIMA[name])
    return out


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_backend_reaches_the_optimum(
    optima: dict[str, tuple[Scenario, float]], variant: str, backend: str
) -> None:
    scenario, optimum = optima[variant]
    plan = solve(scenario, backend=backend, warm_start="none", time_limit=30, gap=0.0, seed=1,
                 threads=1)
    check = evaluate(scenario, plan.assignment)
    assert check.feasible, [str(v) for v in check.violations]
    assert check.objective.total == pytest.approx(optimum, rel=1e-6, abs=1e-6)
    assert plan.bound <= optimum + 1e-6 * max(1.0, abs(optimum))  # a valid bound
    assert plan.status == Status.OPTIMAL, plan.stop_reason
    assert plan.backend == backend


@pytest.mark.parametrize("backend", INSTALLED)
def test_same_seed_and_threads_give_the_same_plan(
    optima: dict[str, tuple[Scenario, float]], backend: str
) -> None:
    scenario, _ = optima["soft potential band + disruption penalty"]
    runs = [solve(scenario, backend=backend, warm_start="none", time_limit=30, gap=0.0,
                  seed=5, threads=2).assignment for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("backend", INSTALLED)
def test_infeasible_scenario_is_explained_by_every_backend(tmp_path: Path, backend: str) -> None:
    from territory_opt.errors import InfeasibleError

    # Workloads 30, 25, 20, ... cannot be split within ±1% over three reps: only the solver sees it.
    scenario = load_scenario(write_scenario(tmp_path, {
        "rules": {"balance": [{"attribute": "workload", "tolerance": 0.01}]}}))
    with pytest.raises(InfeasibleError, match="balance workload"):
        solve(scenario, backend=backend, time_limit=30)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["highs", "cpsat", "scip", "cbc"])
def test_runs_ending_on_the_gap_target_are_reproducible(backend: str) -> None:
    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "small")
    plans = [solve(scenario, backend=backend, time_limit=120, gap=0.02, seed=11, threads=2)
             for _ in range(2)]
    for plan in plans:
        assert plan.stop_reason in ("gap target reached", "proven optimal"), plan.stop_reason
    assert np.array_equal(plans[0].assignment, plans[1].assignment)


def test_a_users_own_backend_object_is_accepted(
    optima: dict[str, tuple[Scenario, float]],
) -> None:
    from territory_opt.backends.contract import Capabilities, SolveOptions, SolveResult
    from territory_opt.backends.linear import LinearModel

    class Mine:
        name = "mine"
        capabilities = Capabilities(notes="HiGHS, counting calls")
        calls = 0

        def available(self) -> bool:
            return True

        def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
            Mine.calls += 1
            return get_backend("highs").solve(model, options)

    scenario, optimum = optima["balance only"]
    plan = solve(scenario, backend=Mine(), warm_start="none", gap=0.0)
    assert plan.backend == "mine" and Mine.calls == 1
    assert plan.objective == pytest.approx(optimum)
