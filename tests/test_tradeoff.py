"""Trade-off curves: scenario variants, the sweep, its monotonicity, files and the CLI."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from conftest import TinyScenario, run_cli
from territory_opt import load_scenario
from territory_opt.errors import ScenarioError
from territory_opt.studies.tradeoff import TradeoffCurve, tradeoff
from territory_opt.studies.variants import with_settings

ROOT = Path(__file__).resolve().parents[1]


def test_a_variant_changes_one_setting_and_leaves_the_base_alone(tiny: TinyScenario) -> None:
    s = load_scenario(tiny.write())
    capped = with_settings(s, {"rules.disruption.max_share": 0.25})
    assert capped.spec.rules.disruption is not None
    assert capped.spec.rules.disruption.max_share == 0.25
    assert capped.spec.rules.disruption.attribute == "items"  # the section was created
    assert s.spec.rules.disruption is None
    assert capped.item_ids is s.item_ids  # tables are shared, not reloaded
    by_name = with_settings(s, {"rules.balance.workload.tolerance": 0.3})
    by_index = with_settings(s, {"rules.balance.0.tolerance": 0.3})
    assert by_name.spec.rules.balance[0].tolerance == 0.3
    assert by_index.spec.rules.balance[0].tolerance == 0.3
    weighted = with_settings(s, {"objective.disruption.weight": 2.5})
    assert weighted.spec.objective.disruption.weight == 2.5


@pytest.mark.parametrize(("setting", "value", "expected"), [
    ("rules.locks", 1.0, "one of rules.disruption.max_share"),
    ("rules.balance.revenue.tolerance", 0.1, "the attribute of a balance rule ['workload']"),
    ("rules.disruption.max_share", 1.5, "less than or equal to 1"),
    ("rules.balance.workload.tolerance", -0.1, "greater than or equal to 0"),
])
def test_bad_variants_are_named(tiny: TinyScenario, setting: str, value: float,
                                expected: str) -> None:
    s = load_scenario(tiny.write())
    with pytest.raises(ScenarioError) as info:
        with_settings(s, {setting: value})
    assert expected in str(info.value) and "variant" in str(info.value)


def _disruption_curve(tiny: TinyScenario, chain: bool) -> TradeoffCurve:
    # A2 (Charlotte) and A3 (Raleigh) sit with each other's rep: swapping them back saves
    # ~2 × 200 km, but takes two moves (one alone breaks the ±20% workload band).
    tiny.account("A2")["current_rep"], tiny.account("A3")["current_rep"] = "R2", "R1"
    s = load_scenario(tiny.write())
    # Out of order on purpose: a limit is solved from tight to loose.
    return tradeoff(s, "rules.disruption.max_share", [1.0, 0.0, 0.25, 0.125, 0.5],
                    time_limit=20, gap=0.0, chain=chain)


@pytest.mark.parametrize("chain", [True, False])
def test_a_looser_cap_never_makes_the_optimum_worse(tiny: TinyScenario, chain: bool) -> None:
    curve = _disruption_curve(tiny, chain)
    values = [p.value for p in curve.points]
    assert values == sorted(values)
    objectives = [p.objective for p in curve.points]
    assert all(math.isfinite(v) for v in objectives)
    assert curve.monotone_violations() == []
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(objectives))
    # Tiny solves to optimality: caps 0 and 1/8 keep the swapped pair, 1/4 undoes the swap.
    assert objectives[0] == pytest.approx(objectives[1])
    assert objectives[2] < objectives[1] - 300
    for p in curve.points:
        assert p.bound <= p.objective + 1e-6
        assert p.plan is not None and p.plan.evaluation.feasible
        moved = p.plan.evaluation.metrics["moved_share_items"]
        assert moved <= p.value + 1e-9


def test_bounds_of_looser_points_tighten_the_tighter_ones(tiny: TinyScenario) -> None:
    curve = _disruption_curve(tiny, chain=True)
    bounds = [p.bound for p in curve.points]
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(bounds))
    for p in curve.points:
        assert p.plan is not None and p.bound >= p.plan.bound - 1e-9


def test_monotone_check_catches_a_worse_looser_point(tiny: TinyScenario) -> None:
    curve = _disruption_curve(tiny, chain=True)
    worse = [curve.points[0], *curve.points[1:]]
    # Swap two plans so the looser point carries the tighter point's (worse) objective.
    tight, loose = worse[0], worse[-1]
    worse[0] = type(tight)(tight.value, loose.plan, loose.bound, loose.status)
    worse[-1] = type(loose)(loose.value, tight.plan, tight.bound, tight.status)
    broken = TradeoffCurve(curve.scenario, curve.path, worse)
    assert broken.monotone_violations()


def test_an_infeasible_point_is_reported_and_the_rest_are_solved(tiny: TinyScenario) -> None:
    tiny.spec["rules"]["balance"] = [{"attribute": "potential", "tolerance": 0.5}]
    s = load_scenario(tiny.write())
    curve = tradeoff(s, "rules.balance.potential.tolerance", [0.0, 0.2, 0.5], time_limit=20)
    first = curve.points[0]
    assert first.plan is None and first.status == "infeasible"
    assert "balance" in first.message
    assert all(p.plan is not None for p in curve.points[1:])
    frame = curve.frame()
    assert next(iter(frame["status"])) == "infeasible"
    assert curve.png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weight_sweep_keeps_the_given_order(tiny: TinyScenario) -> None:
    s = load_scenario(tiny.write())
    curve = tradeoff(s, "objective.disruption.weight", [100.0, 10.0, 0.0], time_limit=20,
                     gap=0.0)
    assert [p.value for p in curve.points] == [100.0, 10.0, 0.0]
    assert not curve.is_limit and curve.monotone_violations() == []
    moved = [p.plan.evaluation.metrics["moved_items"] for p in curve.points if p.plan]
    travel = [p.plan.evaluation.metrics["travel"] for p in curve.points if p.plan]
    # Parametric optimum: as a move gets cheaper, moves can only rise and travel only fall.
    assert moved == sorted(moved)
    assert travel == sorted(travel, reverse=True)


def test_cli_writes_the_curve_and_refuses_to_overwrite(tiny: TinyScenario) -> None:
    yaml_path = tiny.write()
    out = tiny.root / "curve"
    args = ["tradeoff", yaml_path, "--rule", "rules.disruption.max_share", "--values",
            "0,0.25,1", "--time-limit", "20", "--out", out]
    result = run_cli(*args, cwd=tiny.root)
    assert result.code == 0, result.output
    assert "trade-off of rules.disruption.max_share" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["tradeoff.csv", "tradeoff.json",
                                                     "tradeoff.png"]
    frame = pd.read_csv(out / "tradeoff.csv")
    assert list(frame["value"]) == [0, 0.25, 1] and len(frame) == 3
    summary = json.loads((out / "tradeoff.json").read_text())
    assert summary["setting"] == "rules.disruption.max_share" and summary["is_limit"]
    assert summary["monotone_violations"] == []
    again = run_cli(*args, cwd=tiny.root)
    assert again.code == 2 and "already exists" in again.output


@pytest.mark.parametrize(("values", "expected"), [("0.1", "at least two"),
                                                  ("0.1,x", "comma-separated numbers")])
def test_cli_bad_values_exit_2(tiny: TinyScenario, values: str, expected: str) -> None:
    result = run_cli("tradeoff", tiny.write(), "--rule", "rules.disruption.max_share",
                     "--values", values, cwd=tiny.root)
    assert result.code == 2 and expected in result.output and "Traceback" not in result.output
    assert not (tiny.root / "plans").exists() or not any((tiny.root / "plans").iterdir())


@pytest.mark.slow
def test_demo_curve_has_five_monotone_points() -> None:
    s = load_scenario(ROOT / "scenarios" / "demo" / "scenario.yaml")
    # A work limit (HiGHS's root node) and one thread: the same curve on a busy machine as on
    # an idle one (a 15 s time limit lost the tightest point under load); monotone holds at
    # any gap, since a point keeps the tighter point's plan when that one is better.
    curve = tradeoff(s, "rules.disruption.max_share", [0.2, 0.3, 0.5, 0.7, 1.0],
                     work_limit=1, threads=1, gap=0.02)
    solved = [p for p in curve.points if p.plan is not None]
    assert len(solved) >= 5
    assert curve.monotone_violations() == []
    for p in solved:
        assert p.bound <= p.objective + 1e-6
        assert p.plan is not None and p.plan.evaluation.feasible
