"""The large-scenario path: candidate pairs, column generation, repair, neighbourhood MIPs, and
the heuristic backend — checked on the bundled scenarios, where the full model still fits, so
every shortcut can be compared with the exact answer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from territory_opt import evaluate, load_scenario, solve
from territory_opt.alignment.colgen import relax
from territory_opt.alignment.formulation import build_alignment
from territory_opt.alignment.pairs import all_pairs, nearest_pairs
from territory_opt.alignment.repair import round_and_repair
from territory_opt.backends.contract import SolveOptions, Status
from territory_opt.backends.highs import HighsBackend
from territory_opt.backends.linear import sub_model
from territory_opt.backends.registry import get_backend
from territory_opt.deadline import Deadline
from territory_opt.scenario.model import NO_TERRITORY, Scenario

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = SolveOptions(threads=1, time_limit=60)


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "demo" / "scenario.yaml")


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "small" / "scenario.yaml")


def test_nearest_pairs_are_allowed_and_hold_current_and_nearest(demo: Scenario) -> None:
    pairs = nearest_pairs(demo, 3)
    assert demo.is_allowed(pairs.item, pairs.territory).all()
    keys = set((pairs.item * demo.n_territories + pairs.territory).tolist())
    with_current = np.flatnonzero(demo.current != NO_TERRITORY)
    assert all(i * demo.n_territories + demo.current[i] in keys for i in with_current)
    km = np.where(demo.allowed(), demo.distance_block(slice(None)), np.inf)
    nearest = np.argmin(km, axis=1)
    assert all(i * demo.n_territories + k in keys for i, k in enumerate(nearest))
    assert np.all(np.diff(pairs.item) >= 0)  # sorted by item
    assert not pairs.complete


@pytest.mark.parametrize("k", [1, 2, 8])
def test_column_generation_reaches_the_full_lp_bound(demo: Scenario, k: int) -> None:
    full = relax(demo, all_pairs(demo), OPTIONS, Deadline(60))
    priced = relax(demo, nearest_pairs(demo, k), OPTIONS, Deadline(60))
    assert full.status == priced.status == Status.OPTIMAL
    # k = 1 cannot balance anything: phase 1 and pricing must add the missing pairs.
    assert priced.priced_in > 0
    assert priced.bound == pytest.approx(full.bound, rel=1e-7)
    assert priced.objective == pytest.approx(full.objective, rel=1e-7)
    assert len(priced.model.pair_item) < len(full.model.pair_item)


def test_lagrangian_bound_is_valid_before_pricing_converges(demo: Scenario) -> None:
    import territory_opt.alignment.colgen as colgen

    full = relax(demo, all_pairs(demo), OPTIONS, Deadline(60))
    original = colgen.MAX_ROUNDS
    try:
        colgen.MAX_ROUNDS = 2  # stop after one pricing pass
        early = relax(demo, nearest_pairs(demo, 2), OPTIONS, Deadline(60))
    finally:
        colgen.MAX_ROUNDS = original
    assert early.bound <= full.bound * (1 + 1e-9)


def test_infeasible_scenario_is_proven_by_phase_1(small: Scenario) -> None:
    # Lock accounts to territory 0 until they exceed its workload band: no LP solution.
    attribute = small.spec.rules.balance[0].attribute
    ceiling = 1.2 * small.targets(attribute)[0]
    overfull = np.cumsum(small.attributes[attribute]) <= ceiling * 1.1
    lock = np.where(overfull, 0, NO_TERRITORY)
    scenario = dataclasses.replace(small, lock=lock)
    assert small.attributes[attribute][overfull].sum() > ceiling
    result = relax(scenario, nearest_pairs(scenario, 2), OPTIONS, Deadline(60))
    assert result.status == Status.INFEASIBLE
    assert result.violation[f"balance {attribute}"][0, 1] > 0  # over the band in territory 0


def test_repair_turns_the_lp_into_a_plan(demo: Scenario) -> None:
    relaxation = relax(demo, nearest_pairs(demo, 8), OPTIONS, Deadline(60))
    assert relaxation.x is not None
    assignment, violation = round_and_repair(relaxation.model, relaxation.x)
    assert violation == 0.0
    check = evaluate(demo, assignment)
    assert check.feasible, [str(v) for v in check.violations]


def test_sub_model_fixes_the_rest_and_keeps_the_objective(small: Scenario) -> None:
    model = build_alignment(small)
    plan = solve(small, backend="highs", time_limit=3, threads=1)  # any plan will do
    x = model.start_vector(plan.assignment)
    free = np.zeros(model.linear.n_cols, dtype=bool)
    free[: len(model.pair_item)] = plan.assignment[model.pair_item] < 3  # territories 0-2
    free[len(model.pair_item):] = True
    piece = sub_model(model.linear, free, x)
    assert piece.objective(x[free]) == pytest.approx(model.linear.objective(x))
    result = HighsBackend().solve(piece, SolveOptions(threads=1, gap=0.0, warm_start=x[free]))
    assert result.status.has_plan and result.x is not None
    assert result.objective <= model.linear.objective(x) + 1e-6
    x[free] = result.x
    assert evaluate(small, model.assignment(x)).feasible


def test_heuristic_plan_is_feasible_with_a_valid_bound(demo: Scenario) -> None:
    plan = solve(demo, backend="heuristic", time_limit=10, gap=0.01, threads=1, seed=3)
    full = relax(demo, all_pairs(demo), OPTIONS, Deadline(60))
    assert evaluate(demo, plan.assignment).feasible
    # At least the whole problem's LP bound (HiGHS's MIP bound over every pair may beat it:
    # the demo is small enough for the heuristic to end with HiGHS on the whole model).
    assert plan.bound >= full.bound * (1 - 1e-7)
    assert plan.bound <= plan.objective
    assert plan.gap < 0.03


def test_heuristic_never_builds_dense_item_by_territory_arrays(
        demo: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Scenario) -> np.ndarray:
        raise AssertionError("dense items × territories array on the large path")

    monkeypatch.setattr(Scenario, "allowed", refuse)
    monkeypatch.setattr(Scenario, "eligible", refuse)
    plan = solve(demo, backend="heuristic", time_limit=5, gap=0.05, threads=1)
    assert plan.status.has_plan


def test_auto_picks_the_heuristic_only_for_large_scenarios() -> None:
    assert get_backend("auto", n_pairs=1000).name == "highs"
    assert get_backend("auto", n_pairs=10_000_000).name == "heuristic"


def test_exact_backend_on_candidates_reports_only_the_priced_bound(small: Scenario) -> None:
    plan = solve(small, backend="highs", candidates=2, time_limit=3, gap=0.0, threads=1)
    assert "column generation" in plan.bound_source
    full = relax(small, all_pairs(small), OPTIONS, Deadline(60))
    assert plan.bound == pytest.approx(full.bound, rel=1e-7)


def test_lagrangian_bound_is_valid_and_close_to_the_lp(demo: Scenario) -> None:
    from territory_opt.alignment.lagrange import lagrangian_relaxation

    full = relax(demo, all_pairs(demo), OPTIONS, Deadline(60))
    lagrange = lagrangian_relaxation(demo, nearest_pairs(demo, 4), OPTIONS, Deadline(20))
    assert not lagrange.lp
    assert lagrange.bound <= full.bound * (1 + 1e-9)  # valid: never above the LP optimum
    assert lagrange.bound >= full.bound * (1 - 0.01)  # and useful: within 1% of it
    assert lagrange.x is not None
    assignment, violation = round_and_repair(lagrange.model, lagrange.x)
    assert violation == 0.0
    assert evaluate(demo, assignment).feasible


def test_flow_keeps_its_band_exactly_and_costs_no_more_than_the_lp(demo: Scenario) -> None:
    from territory_opt.alignment.flow import balance_flow

    full = relax(demo, all_pairs(demo), OPTIONS, Deadline(60))
    model = build_alignment(demo, all_pairs(demo))
    flow = balance_flow(model, np.zeros(model.linear.n_rows))  # no prices: one band only
    assert flow is not None and not (flow.short > 0).any() and not flow.unplaced.any()
    n_pairs = len(model.pair_item)
    shares = np.bincount(model.pair_item, weights=flow.x[:n_pairs], minlength=demo.n_items)
    np.testing.assert_allclose(shares, 1.0, atol=1e-9)
    # The flow band (the narrowest hard one) holds for the fractional point ...
    band = min((b for b in model.layout.bands if b.penalty is None),
               key=lambda b: float(np.median((b.hi - b.lo) / b.hi)))
    load = np.bincount(model.pair_territory, weights=band.weight[model.pair_item]
                       * flow.x[:n_pairs], minlength=demo.n_territories)
    tolerance = 1e-6 * band.hi  # integer flow units
    assert np.all(load >= band.lo - tolerance) and np.all(load <= band.hi + tolerance)
    # ... it splits at most one item per territory (a basic solution) ...
    split = np.bincount(model.pair_item, weights=(flow.x[:n_pairs] > 1e-9)
                        & (flow.x[:n_pairs] < 1 - 1e-9), minlength=demo.n_items) > 0
    assert split.sum() <= demo.n_territories
    # ... and, one band being a relaxation of all of them, it costs no more than the LP.
    assert model.linear.c[:n_pairs] @ flow.x[:n_pairs] <= full.objective * (1 + 1e-4)


def test_flow_at_the_lagrangian_prices_rounds_to_a_plan(demo: Scenario) -> None:
    from territory_opt.alignment.flow import flow_point
    from territory_opt.alignment.lagrange import lagrangian_relaxation

    lagrange = lagrangian_relaxation(demo, nearest_pairs(demo, 4), OPTIONS, Deadline(10))
    assert lagrange.duals is not None and len(lagrange.duals) == lagrange.model.linear.n_rows
    point = flow_point(lagrange.model, lagrange.duals)
    assert point is not None
    assignment, violation = round_and_repair(lagrange.model, point)
    assert violation == 0.0
    assert evaluate(demo, assignment).feasible
