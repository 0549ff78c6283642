"""Hierarchies (``territories.levels``): per-level balance, same_parent (stay, max_moves,
price) and the joint design — conformance against brute force, validate-time conflicts and the
solver's diagnosis naming the level and the amounts, schema errors, the support matrix, and the
plan's record of the chosen parents."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from cases import ACCOUNTS, BASE
from conftest import assert_mentions
from territory_opt import evaluate, load_scenario, solve
from territory_opt.errors import InfeasibleError, ScenarioError, TerritoryOptError
from territory_opt.plan import Plan
from territory_opt.scenario.conflicts import quick_conflicts
from territory_opt.scenario.model import NO_TERRITORY, Scenario
from territory_opt.tolerance import band_slack

REPS = pd.DataFrame({
    "rep": ["R1", "R2", "R3", "R4"],
    "home_lat": [0.0, 0.8, 1.8, 0.4],
    "home_lon": [0.0, 1.1, 2.0, 0.5],
    "fte": [1.0, 1.0, 1.0, 1.0],
    "district": ["D1", "D2", "D2", "D1"],
    "region": ["N", "S", "S", "N"],
})
OWNERS = ["R1", "R2", "R3", "R4", "R2", "R1", "R3"]

CASES: dict[str, dict[str, Any]] = {
    "district hard": {"rules": {"balance": [
        {"attribute": "workload", "tolerance": 0.3},
        {"attribute": "workload", "tolerance": 0.03, "level": "district"}]}},
    "district soft": {"rules": {"balance": [
        {"attribute": "workload", "tolerance": 0.3},
        {"attribute": "workload", "tolerance": 0.0, "level": "district", "hard": False,
         "penalty": 20.0}]}},
    "stay": {"rules": {"same_parent": {"level": "region"}}},
    "max_moves": {"rules": {"same_parent": {"level": "region", "max_moves": 1}}},
    "price": {"rules": {"same_parent": {"level": "region", "price": 150.0}}},
}


def write_case(folder: Path, case: dict[str, Any], reps: pd.DataFrame | None = None,
               owners: list[str] | None = None) -> Path:
    spec = copy.deepcopy(BASE)
    spec["territories"]["levels"] = ["district", "region"]
    spec["territories"].pop("skills")
    spec["items"]["tags"] = []
    spec["rules"] = {"balance": [{"attribute": "workload", "tolerance": 0.3}],
                     **case.get("rules", {})}
    spec["objective"] = {"travel": {"weight": 1.0, "attribute": "visits"},
                         "disruption": {"weight": 5.0}}
    for key in ("hierarchy", "territories"):
        if key in case:
            spec[key] = {**spec.get(key, {}), **case[key]}
    ACCOUNTS.assign(owner=owners or OWNERS).to_csv(folder / "accounts.csv", index=False)
    (REPS if reps is None else reps).to_csv(folder / "reps.csv", index=False)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def brute_force(scenario: Scenario, joint: bool = False) -> float:
    """Best objective by enumeration, computed apart from the evaluator and the model: every
    assignment (and, for the joint design, every choice of districts leaving none empty)."""
    n, m = scenario.n_items, scenario.n_territories
    a = np.asarray(list(itertools.product(range(m), repeat=n)))
    items = np.arange(n)
    spec = scenario.spec
    h = scenario.hierarchy
    assert h is not None
    ok = scenario.allowed()[items, a].all(axis=1)
    km = np.nan_to_num(scenario.distance_block(slice(None)))
    cost = (spec.objective.travel.weight * (km * scenario.travel_weight()[:, None])[items, a]
            ).sum(axis=1)
    current = scenario.current
    moved = (a != current) & (current != NO_TERRITORY)
    cost = cost + spec.objective.disruption.weight * moved.sum(axis=1)
    work = scenario.attributes["workload"]
    loads = np.stack([(work * (a == k)).sum(axis=1) for k in range(m)], axis=1)
    targets = scenario.targets("workload")
    for rule in spec.rules.balance:
        if rule.level is not None:
            continue
        lo, hi = (1 - rule.tolerance) * targets, (1 + rule.tolerance) * targets
        s = band_slack(targets)
        ok &= ((loads >= lo - s) & (loads <= hi + s)).all(axis=1)
    same = spec.rules.same_parent
    if same is not None:
        parent = h.level(same.level).parent
        cross = (parent[a] != parent[current][None, :]) & (current != NO_TERRITORY)
        if same.max_moves is not None:
            ok &= cross.sum(axis=1) <= same.max_moves
        elif same.price is not None:
            cost = cost + same.price * cross.sum(axis=1)
    district = h.levels[0]
    choices = ([np.asarray(c) for c in itertools.product(range(district.n_nodes), repeat=m)
                if len(set(c)) == district.n_nodes] if joint else [district.parent])
    best = np.inf
    for choice in choices:
        good, total = ok.copy(), cost.copy()
        for rule in spec.rules.balance:
            if rule.level is None:
                continue
            node = h.ancestors(choice, h.index(rule.level))
            onehot = np.eye(int(node.max()) + 1)[node]
            load, target = loads @ onehot, targets @ onehot
            lo, hi = (1 - rule.tolerance) * target, (1 + rule.tolerance) * target
            excess = np.maximum(lo - load, 0) + np.maximum(load - hi, 0)
            if rule.hard:
                good &= (excess <= band_slack(target)).all(axis=1)
            else:
                total = total + rule.penalty * excess.sum(axis=1)
        if good.any():
            best = min(best, float(total[good].min()))
    return best


@pytest.fixture(scope="module")
def optima(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Scenario, float]]:
    out = {}
    for name, case in CASES.items():
        scenario = load_scenario(write_case(tmp_path_factory.mktemp("level"), case))
        out[name] = (scenario, brute_force(scenario))
    return out


@pytest.mark.parametrize("backend", ["highs", "cpsat"])
@pytest.mark.parametrize("case", list(CASES))
def test_plan_is_optimal_and_bound_valid(optima: dict[str, tuple[Scenario, float]], case: str,
                                         backend: str) -> None:
    scenario, optimum = optima[case]
    assert np.isfinite(optimum)
    plan = solve(scenario, backend=backend, time_limit=30, gap=0.0, seed=1, threads=1)
    check = evaluate(scenario, plan.assignment)
    assert check.feasible, [str(v) for v in check.violations]
    assert check.objective.total == pytest.approx(optimum, rel=1e-6, abs=1e-6)
    assert plan.bound <= optimum + 1e-6 * max(1.0, abs(optimum))


def test_the_rules_change_the_optimum(optima: dict[str, tuple[Scenario, float]],
                                      tmp_path: Path) -> None:
    """Each case binds: without its rule the optimum is lower (else the test proves little)."""
    free = brute_force(load_scenario(write_case(tmp_path, {})))
    for name in CASES:
        assert optima[name][1] > free + 1e-6, name


JOINT = {"rules": {"balance": [{"attribute": "workload", "tolerance": 0.3},
                               {"attribute": "workload", "tolerance": 0.03,
                                "level": "district"}]},
         "hierarchy": {"design": "joint"}}


def test_joint_design_is_optimal_and_no_worse_than_fixed(tmp_path: Path) -> None:
    joint = load_scenario(write_case(tmp_path, JOINT))
    optimum = brute_force(joint, joint=True)
    plan = solve(joint, backend="highs", time_limit=30, gap=0.0, threads=1)
    assert plan.objective == pytest.approx(optimum, rel=1e-6)
    assert plan.bound <= optimum + 1e-6 * optimum
    assert evaluate(plan.scenario, plan.assignment).feasible
    fixed = load_scenario(write_case(tmp_path / "..", {"rules": JOINT["rules"]}))
    fixed_plan = solve(fixed, backend="highs", time_limit=30, gap=0.0, threads=1)
    assert plan.objective <= fixed_plan.objective + 1e-6
    assert plan.objective < fixed_plan.objective - 1e-6  # here the design pays
    # the chosen parents are in plan.json and territories.csv, and come back on reading
    written = plan.write(tmp_path / "plan")
    meta = yaml.safe_load((written / "plan.json").read_text())
    assert plan.scenario.hierarchy is not None
    chosen = plan.scenario.hierarchy.as_dict(joint.territory_ids)
    assert meta["hierarchy"] == chosen
    table = pd.read_csv(written / "territories.csv")
    assert list(table["district"]) == [chosen["district"][t] for t in joint.territory_ids]
    again = Plan.read(written)
    assert again.objective == pytest.approx(plan.objective)
    assert again.scenario.hierarchy is not None
    assert again.scenario.hierarchy.as_dict(joint.territory_ids) == chosen
    assert not again.disagreements


def test_plans_without_levels_have_no_hierarchy_key(tmp_path: Path) -> None:
    spec = copy.deepcopy(BASE)
    ACCOUNTS.to_csv(tmp_path / "accounts.csv", index=False)
    from cases import REPS as THREE
    THREE.to_csv(tmp_path / "reps.csv", index=False)
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(spec))
    plan = solve(load_scenario(tmp_path / "scenario.yaml"), backend="highs", time_limit=10)
    assert "hierarchy" not in plan.summary()


def test_evaluator_names_level_parent_and_amounts(optima: dict[str, tuple[Scenario, float]]
                                                  ) -> None:
    scenario, _ = optima["district hard"]
    everything_in_r1 = np.zeros(scenario.n_items, dtype=np.int64)
    text = "\n".join(map(str, evaluate(scenario, everything_in_r1).violations))
    assert_mentions(text, "per district", "district D1", "workload 120.00",
                    "[58.20, 61.80]", "district D2")
    scenario, _ = optima["stay"]
    crossing = scenario.current.copy()
    crossing[0] = 1  # A1 from R1 (region N) to R2 (region S)
    text = "\n".join(map(str, evaluate(scenario, crossing).violations))
    assert_mentions(text, "same_parent region", "A1", "region N", "R2")
    scenario, _ = optima["max_moves"]
    crossing[1] = 0
    text = "\n".join(map(str, evaluate(scenario, crossing).violations))
    assert_mentions(text, "max_moves 1", "2 items move to another region")
    scenario, _ = optima["price"]
    base = evaluate(scenario, scenario.current).objective.disruption
    assert evaluate(scenario, crossing).objective.disruption == pytest.approx(
        base + 2 * (150.0 + 5.0))
    metrics = evaluate(scenario, crossing).metrics
    assert metrics["moved_across_region"] == 2
    assert "district_workload_max_abs_dev_pct" in metrics


@pytest.mark.parametrize(("name", "case", "reps_change", "words"), [
    ("locked load over a district band",
     {"rules": {"balance": [{"attribute": "workload", "tolerance": 0.5},
                            {"attribute": "workload", "tolerance": 0.03, "level": "district"}],
                "locks": {"A1": "R1", "A2": "R4", "A3": "R4"}}}, None,
     ("per district", "district D1", "locked workload 75.00", "61.80", "over by 13.20")),
    ("district band its capacities cannot reach",
     {"rules": {"balance": [{"attribute": "workload", "tolerance": 0.5},
                            {"attribute": "workload", "tolerance": 0.03, "level": "district"}]},
      "territories": {"capacity": {"workload": "cap"}}}, {"cap": [25.0, 60.0, 60.0, 25.0]},
     ("per district", "district D1", "at most workload 50.00", "58.20", "short by 8.20")),
    ("stay over the territory bands",
     {"rules": {"balance": [{"attribute": "workload", "tolerance": 0.05}],
                "same_parent": {"level": "region"}}}, None,
     ("same_parent region", "region S", "workload 64.00", "over by 1.00", "region N",
      "workload 56.00", "short by 1.00")),
])
def test_validate_names_level_and_amounts(tmp_path: Path, name: str, case: dict[str, Any],
                                          reps_change: dict[str, list[float]] | None,
                                          words: tuple[str, ...]) -> None:
    reps = REPS.assign(**reps_change) if reps_change else None
    scenario = load_scenario(write_case(tmp_path, case, reps))
    text = "\n".join(map(str, quick_conflicts(scenario)))
    assert_mentions(text, *words)
    with pytest.raises(InfeasibleError):
        solve(scenario, backend="highs", time_limit=10)


def test_solver_diagnosis_names_the_level(tmp_path: Path) -> None:
    """Arithmetic sees nothing (the cap on moves across is no stay rule); the solver's
    diagnosis names the level rule that must give, the parents and the amounts."""
    case = {"rules": {"balance": [{"attribute": "workload", "tolerance": 0.03,
                                   "level": "region"}],
                      "same_parent": {"level": "region", "max_moves": 0}}}
    owners = ["R1", "R4", "R1", "R4", "R4", "R1", "R4"]  # everything in region N
    scenario = load_scenario(write_case(tmp_path, case, owners=owners))
    assert not quick_conflicts(scenario)
    with pytest.raises(InfeasibleError) as info:
        solve(scenario, backend="highs", time_limit=10)
    assert_mentions(str(info.value), "balance workload per region", "region N (over by 58.20",
                    "region S (short by 58.20")


def test_cli_validate_exits_2_naming_the_level(tmp_path: Path) -> None:
    from conftest import run_cli

    case = {"rules": {"balance": [{"attribute": "workload", "tolerance": 0.5},
                                  {"attribute": "workload", "tolerance": 0.03,
                                   "level": "district"}],
                      "locks": {"A1": "R1", "A2": "R4", "A3": "R4"}}}
    path = write_case(tmp_path, case)
    result = run_cli("validate", path, cwd=tmp_path, subprocess=False)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert_mentions(result.output, "infeasible", "district D1", "75.00")


@pytest.mark.parametrize(("change", "reps", "words"), [
    ({"rules": {"balance": [{"attribute": "workload", "tolerance": 0.1, "level": "area"}]}},
     None, ("rules.balance.0.level", "area", "district, region")),
    ({"rules": {"same_parent": {"level": "zone"}}}, None, ("rules.same_parent.level", "zone")),
    ({}, REPS.drop(columns="region"), ("reps.csv", "region", "territories.levels.region")),
    ({}, REPS.assign(region=["N", "S", "N", "N"]),
     ("reps.csv", "rows 2, 3", "region", "district D2 in 2 regions (N, S)")),
    ({}, REPS.assign(district=["D1", "", "D2", "D1"]), ("reps.csv", "row 2", "no parent")),
    ({"rules": {"same_parent": {"level": "region"}}, "hierarchy": {"design": "joint"}}, None,
     ("same_parent needs hierarchy.design: fixed",)),
])
def test_bad_hierarchy_names_the_place(tmp_path: Path, change: dict[str, Any],
                                       reps: pd.DataFrame | None, words: tuple[str, ...]
                                       ) -> None:
    with pytest.raises((ScenarioError, ValueError)) as info:
        load_scenario(write_case(tmp_path, change, reps))
    assert_mentions(str(info.value), *words)


def test_same_parent_needs_current(tmp_path: Path) -> None:
    path = write_case(tmp_path, {"rules": {"same_parent": {"level": "region"}}})
    spec = yaml.safe_load(path.read_text())
    del spec["items"]["current"]
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ScenarioError, match=r"needs items\.current"):
        load_scenario(path)


@pytest.mark.parametrize(("case", "heuristic"), [
    ("district hard", False), ("district soft", False), ("stay", True),
    ("max_moves", False), ("price", True)])
def test_heuristic_refuses_or_honours(optima: dict[str, tuple[Scenario, float]], case: str,
                                      heuristic: bool) -> None:
    scenario, _ = optima[case]
    if not heuristic:
        refusal = r"(?s)heuristic cannot honour.*rules\.(balance|same_parent).*highs"
        with pytest.raises(TerritoryOptError, match=refusal):
            solve(scenario, backend="heuristic", time_limit=5)
    else:
        plan = solve(scenario, backend="heuristic", time_limit=5, seed=1)
        assert evaluate(scenario, plan.assignment).feasible
    with pytest.raises(TerritoryOptError, match=r"decompose|regions"):
        solve(scenario, backend="decompose", time_limit=5)
    plan = solve(scenario, time_limit=10, gap=0.0)  # auto honours every rule
    assert evaluate(scenario, plan.assignment).feasible


def test_summary_and_report_show_every_level(tmp_path: Path) -> None:
    from rich.console import Console

    from territory_opt.present.report import render_report
    from territory_opt.present.terminal import plan_summary

    scenario = load_scenario(write_case(tmp_path, CASES["district hard"]))
    plan = solve(scenario, backend="highs", time_limit=10)
    console = Console(width=200, record=True, color_system=None)
    for part in plan_summary(plan):
        console.print(part)
    text = console.export_text()
    for title, parent in (("per district", "D2"), ("per region", "S")):
        assert title in text and parent in text, text
    assert "workload dev %" in text
    html = render_report(plan)
    assert 'id="level-district"' in html and 'id="level-region"' in html
    assert "district bands" in html and "±3%" in html  # the district rule's band is named
