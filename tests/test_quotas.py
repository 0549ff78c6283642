"""Quotas: a company target split by potential share (FTE-blended) within floors and caps."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TinyScenario, run_cli
from territory_opt import evaluate, load_scenario
from territory_opt.backends.contract import Status
from territory_opt.kpi.quotas import split_target
from territory_opt.plan import Plan
from territory_opt.scenario.schema import Quotas


def test_split_by_potential_share() -> None:
    split = split_target(Quotas(target=1000, basis="p"), np.array([100.0, 300.0, 600.0]),
                         np.ones(3))
    assert split.quota == pytest.approx([100, 300, 600])
    assert list(split.bound) == ["", "", ""]


def test_fte_weight_blends_the_fte_share() -> None:
    # Basis shares 0.1/0.3/0.6, FTE shares 0.5/0.25/0.25; half and half: 0.3/0.275/0.425.
    split = split_target(Quotas(target=1000, basis="p", fte_weight=0.5),
                         np.array([100.0, 300.0, 600.0]), np.array([1.0, 0.5, 0.5]))
    assert split.quota == pytest.approx([300, 275, 425])


def test_floor_and_cap_redistribute_and_keep_the_total() -> None:
    # Fair share 250 each. Floor 0.8 → 200, cap 1.2 → 300. Raw 50/150/300/500 by potential.
    # T1 floored at 200, T4 capped at 300; T2 and T3 share the remaining 500 as 150:300 →
    # 166.67 and 333.33: T2 below its floor, T3 above its cap, so both are set by them.
    rules = Quotas(target=1000, basis="p", floor=0.8, cap=1.2)
    split = split_target(rules, np.array([50.0, 150.0, 300.0, 500.0]), np.ones(4))
    assert split.quota == pytest.approx([200, 200, 300, 300])
    assert split.quota.sum() == pytest.approx(1000)
    assert list(split.bound) == ["floor", "floor", "cap", "cap"]


def test_rounding_keeps_the_total_by_largest_remainder() -> None:
    split = split_target(Quotas(target=1000, basis="p", round_to=10),
                         np.array([1.0, 1.0, 1.0]), np.ones(3))
    assert split.quota.sum() == 1000
    assert sorted(split.quota) == [330, 330, 340]
    assert split.quota[0] == 340  # ties go to the first territory: deterministic


@pytest.mark.parametrize(("basis", "fte_weight"), [
    ([0.0, 0.0, 899722.0, 950829.0], 0.5),  # found by hypothesis in CI: the sum overshot
    ([0.0, 0.0, 0.0, 1.0], 0.25),  # and here the fill of the remainder divided inf by inf
])
def test_floor_on_a_breakpoint_still_adds_up(basis: list[float], fte_weight: float) -> None:
    rules = Quotas(target=1e6, basis="p", floor=0.9375, fte_weight=fte_weight)
    split = split_target(rules, np.array(basis), np.ones(4))
    assert split.quota.sum() == pytest.approx(1e6, rel=1e-9)
    assert np.all(split.quota >= 0.9375 * 250_000 - 1e-6)


def test_no_basis_anywhere_falls_back_to_fte_share() -> None:
    split = split_target(Quotas(target=900, basis="p"), np.zeros(3), np.array([1.0, 1.0, 1.0]))
    assert split.quota == pytest.approx([300, 300, 300])


@settings(max_examples=1000, deadline=None)
@given(
    basis=st.lists(st.floats(0, 1e6), min_size=1, max_size=12),
    floor=st.one_of(st.none(), st.floats(0, 1)),
    cap=st.one_of(st.none(), st.floats(1, 3)),
    fte_weight=st.floats(0, 1),
    data=st.data(),
)
def test_split_adds_up_and_respects_bounds(basis: list[float], floor: float | None,
                                           cap: float | None, fte_weight: float,
                                           data: st.DataObject) -> None:
    fte = np.array(data.draw(st.lists(st.floats(0.1, 2), min_size=len(basis),
                                      max_size=len(basis))))
    rules = Quotas(target=1e6, basis="p", floor=floor, cap=cap, fte_weight=fte_weight)
    split = split_target(rules, np.array(basis), fte)
    fair = 1e6 * fte / fte.sum()
    assert split.quota.sum() == pytest.approx(1e6, rel=1e-9)
    if floor is not None:
        assert np.all(split.quota >= floor * fair - 1e-6)
    if cap is not None:
        assert np.all(split.quota <= cap * fair + 1e-6)


def _with_quotas(tiny: TinyScenario, **quotas: object) -> Path:
    tiny.spec["quotas"] = {"target": 1_000_000, "basis": "potential", **quotas}
    return tiny.write()


def test_evaluation_and_plan_carry_quotas(tiny: TinyScenario, tmp_path: Path) -> None:
    s = load_scenario(_with_quotas(tiny, floor=0.9))
    assert "target 1,000,000 split by potential share, floor 90%" in s._repr_html_()
    e = evaluate(s, s.current)
    # Current potential: R1 220, R2 230, R3 275 of 725; fair share 333,333, floor 300,000.
    t = e.territories.set_index("territory")
    assert t["quota"].sum() == pytest.approx(1_000_000)
    assert t.loc["R3", "quota"] > t.loc["R2", "quota"] >= 300_000 - 1e-6
    assert e.metrics["quota_total"] == pytest.approx(1_000_000)
    assert e.metrics["quota_to_basis_max_pct"] >= e.metrics["quota_to_basis_min_pct"]
    plan = Plan(scenario=s, assignment=s.current, status=Status.FEASIBLE, bound=-np.inf,
                backend="current")
    out = plan.write(tmp_path / "plan")
    with (out / "quotas.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["territory"] for r in rows] == ["R1", "R2", "R3"]
    assert sum(float(r["quota"]) for r in rows) == pytest.approx(1_000_000)
    assert set(rows[0]) >= {"potential", "quota", "quota_share_pct", "quota_per_fte",
                            "quota_bound"}


def test_cli_shows_quotas(tiny: TinyScenario) -> None:
    yaml_path = _with_quotas(tiny, round_to=1000)
    result = run_cli("evaluate", yaml_path, "--territories", cwd=tiny.root)
    assert result.code == 0, result.output
    assert "quota" in result.output and "% of potential" in result.output


@pytest.mark.parametrize(("quotas", "field", "expected"), [
    ({"target": 1000, "basis": "revenue"}, "basis", "one of the item attributes"),
    ({"target": 1000, "basis": "potential", "floor": 1.5}, "floor", "less than or equal to 1"),
    ({"target": 1000, "basis": "potential", "cap": 0.5}, "cap", "greater than or equal to 1"),
    ({"target": -5, "basis": "potential"}, "target", "greater than 0"),
])
def test_bad_quotas_are_named(tiny: TinyScenario, quotas: dict[str, object], field: str,
                              expected: str) -> None:
    tiny.spec["quotas"] = quotas
    result = run_cli("validate", tiny.write(), cwd=tiny.root)
    assert result.code == 2
    assert "quotas" in result.output and field in result.output and expected in result.output
    assert "Traceback" not in result.output
