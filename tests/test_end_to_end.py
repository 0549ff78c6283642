"""End to end: a scenario file -> solve -> plan, checked against brute force.

The optimum of each tiny scenario was found by enumerating every assignment and scoring it with
the KPI evaluator, and is stored (:mod:`variant_optima`; the slow test here recomputes it); the
solver's plan is then re-checked by the evaluator (feasibility and objective), never by the
solver's own claims.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cases import VARIANTS, variant_optimum, write_scenario
from territory_opt import Plan, evaluate, load_scenario, solve
from territory_opt.backends.contract import Status
from variant_optima import VARIANT_OPTIMA


@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
def test_solve_matches_brute_force(tmp_path: Path, variant: str) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS[variant]))
    optimum = VARIANT_OPTIMA[variant]
    assert np.isfinite(optimum), "the fixture must be feasible"

    plan = solve(scenario)
    check = evaluate(scenario, plan.assignment)
    assert check.feasible, [str(v) for v in check.violations]
    assert check.objective.total == pytest.approx(optimum, rel=1e-6, abs=1e-6)
    assert plan.status == Status.OPTIMAL
    assert plan.bound <= check.objective.total + 1e-6
    assert plan.gap <= 1e-4


@pytest.mark.slow
def test_stored_optima_match_brute_force() -> None:
    # 2,187 evaluations per scenario (about 20 s each): the stored optima must stay true.
    assert set(VARIANT_OPTIMA) == set(VARIANTS)
    for name in VARIANTS:
        stored = VARIANT_OPTIMA[name]
        assert variant_optimum(name) == pytest.approx(stored, rel=1e-9, abs=1e-9), name


def test_optimum_differs_from_nearest_rep(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, {}))
    nearest = np.nanargmin(scenario.distance_block(slice(None)), axis=1)
    assert not evaluate(scenario, nearest).feasible
    plan = solve(scenario)
    assert (plan.assignment != nearest).any()


def test_plan_round_trip(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS["soft potential band + "
                                                               "disruption penalty"]))
    plan = solve(scenario, seed=3)
    written = plan.write(tmp_path / "plan")
    assert sorted(p.name for p in written.iterdir()) == [
        "assignment.csv", "plan.json", "territories.csv"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(written.stat().st_mode) == 0o777 & ~mask  # not mkdtemp's private 0700
    again = Plan.read(written)  # finds its scenario from plan.json
    assert np.array_equal(again.assignment, plan.assignment)
    assert again.objective == pytest.approx(plan.objective)
    assert again.status == plan.status and again.seed == 3
    assert not again.scenario_changed
    frame = pd.read_csv(written / "assignment.csv")
    assert list(frame.columns) == ["item", "territory", "moved", "locked"]
    with pytest.raises(Exception, match="already exists"):
        plan.write(written)


def test_same_seed_same_plan(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS["balance only"]))
    first = solve(scenario, seed=7, threads=1)
    second = solve(scenario, seed=7, threads=1)
    assert np.array_equal(first.assignment, second.assignment)


def test_scenario_change_is_detected(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, {})
    plan = solve(load_scenario(path))
    written = plan.write(tmp_path / "plan")
    csv = tmp_path / "accounts.csv"
    csv.write_text(csv.read_text().replace("30.0", "31.0", 1))
    assert Plan.read(written).scenario_changed
