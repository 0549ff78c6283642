"""``objective.priorities``: criteria solved level by level. Conformance against a brute-force
lexicographic optimum (each level's value, the plan's, and a valid bound), ``plan.json``, the
schema's refusals naming the YAML path, the heuristic's and the regions' refusal, ``auto``."""

from __future__ import annotations

import copy
import functools
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from cases import ACCOUNTS, BASE, REPS
from conftest import run_cli
from territory_opt import evaluate, load_scenario, solve
from territory_opt.alignment.choice import choose
from territory_opt.errors import ScenarioError, TerritoryOptError
from territory_opt.kpi.priorities import criterion_value
from territory_opt.scenario.model import Scenario
from territory_opt.settings import SolveSettings

EXACT_LABEL = "exact (highs, cpsat, scip, cbc, pulp:*)"

CASES: dict[str, list[dict[str, Any]]] = {
    "balance, disruption, travel": [{"criterion": "balance"}, {"criterion": "disruption"},
                                    {"criterion": "travel"}],
    "disruption ±50%, compactness ±10%, travel, balance": [
        {"criterion": "disruption", "slack": 0.5}, {"criterion": "compactness", "slack": 0.1},
        {"criterion": "travel"}, {"criterion": "balance"}],
    "travel ±5%, balance": [{"criterion": "travel", "slack": 0.05}, {"criterion": "balance"}],
    "disruption only": [{"criterion": "disruption"}],
}

CPSAT_CASES = [name for name, levels in CASES.items()
               if all(p["criterion"] != "balance" for p in levels[:-1])]
"""CP-SAT takes continuous columns in one row only: no level after a balance level."""


def write_priorities(folder: Path, priorities: Any, **changes: Any) -> Path:
    spec = copy.deepcopy(BASE)
    spec["objective"] = {"travel": {"attribute": "visits"}, "priorities": priorities}
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if value is None:
            spec[section].pop(name, None)
        else:
            spec[section][name] = value
    ACCOUNTS.to_csv(folder / "accounts.csv", index=False)
    REPS.to_csv(folder / "reps.csv", index=False)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def lexicographic(scenario: Scenario) -> list[float]:
    """Brute force: each level's optimum over the feasible assignments that keep every
    earlier level within its slack (and the solver's tolerance)."""
    priorities = scenario.spec.objective.priorities or []
    feasible = list(_feasible(scenario))
    optima = []
    for p in priorities:
        values = [criterion_value(scenario, p.criterion, a) for a in feasible]
        best = min(values)
        optima.append(best)
        limit = (1 + p.slack) * best + 1e-6 * max(1.0, abs(best))
        feasible = [a for a, v in zip(feasible, values, strict=True) if v <= limit]
    return optima


_FEASIBLE: list[tuple[np.ndarray, ...]] = []


def _feasible(scenario: Scenario) -> tuple[np.ndarray, ...]:
    """The feasible assignments: the cases share their rules (only the objective differs)."""
    if not _FEASIBLE:
        _FEASIBLE.append(tuple(
            a for combo in itertools.product(range(scenario.n_territories),
                                             repeat=scenario.n_items)
            if evaluate(scenario, a := np.asarray(combo)).feasible))
    return _FEASIBLE[0]


@functools.cache
def _case(name: str) -> tuple[Scenario, tuple[float, ...]]:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="priorities"))
    scenario = load_scenario(write_priorities(folder, CASES[name]))
    return scenario, tuple(lexicographic(scenario))


@pytest.mark.parametrize(("case", "backend"),
                         [(c, "highs") for c in CASES] + [(c, "cpsat") for c in CPSAT_CASES])
def test_each_level_is_optimal_and_the_bound_valid(case: str, backend: str) -> None:
    scenario, optima = _case(case)
    plan = solve(scenario, backend=backend, time_limit=20, gap=0.0, seed=1, threads=1)
    assert evaluate(scenario, plan.assignment).feasible
    priorities = scenario.spec.objective.priorities or []
    assert [level["criterion"] for level in plan.priorities] == [p.criterion for p in priorities]
    for level, p, optimum in zip(plan.priorities, priorities, optima, strict=True):
        # The level reached its brute-force optimum; the plan keeps it within the slack.
        assert level["reached"] == pytest.approx(optimum, rel=1e-6, abs=1e-6), level
        assert level["bound"] is None or level["bound"] <= optimum + 1e-6 * max(1, optimum)
        value = criterion_value(scenario, p.criterion, plan.assignment)
        assert level["value"] == pytest.approx(value, rel=1e-6, abs=1e-6)
        assert value <= (1 + p.slack) * optimum + 1e-5 * max(1.0, optimum)
    # The objective is the last level's criterion, at the lexicographic optimum.
    assert plan.objective == pytest.approx(optima[-1], rel=1e-6, abs=1e-6)
    if backend == "highs":
        assert plan.status == "optimal", plan.stop_reason
        assert plan.bound <= optima[-1] + 1e-6 * max(1, optima[-1])


def test_cpsat_refuses_a_level_after_a_balance_level_before_solving() -> None:
    scenario, _ = _case("balance, disruption, travel")
    with pytest.raises(TerritoryOptError, match=r"cpsat cannot solve a level after a balance"):
        solve(scenario, backend="cpsat", time_limit=10)


def test_the_order_matters() -> None:
    """Balance first and travel first give different plans (else the test proves little)."""
    first = _case("balance, disruption, travel")[1]
    travel_first = _case("travel ±5%, balance")[1]
    assert travel_first[0] < first[2] - 1


def test_plan_json_and_the_summary_carry_each_level(tmp_path: Path) -> None:
    path = write_priorities(tmp_path, CASES["balance, disruption, travel"])
    run = run_cli("solve", path, "--time-limit", "10", "--out", tmp_path / "plan",
                  cwd=tmp_path, subprocess=False)
    assert run.code == 0, run.output
    assert "priorities" in run.output and "auto chose highs" in run.output
    meta = json.loads((tmp_path / "plan" / "plan.json").read_text())
    levels = meta["priorities"]
    assert [level["criterion"] for level in levels] == ["balance", "disruption", "travel"]
    for level in levels:
        assert {"reached", "bound", "gap", "limit", "value", "status", "slack"} <= set(level)
    assert meta["objective"] == pytest.approx(levels[-1]["value"])
    assert meta["objective_terms"] == pytest.approx({lv["criterion"]: lv["value"]
                                                     for lv in levels})
    run = run_cli("report", tmp_path / "plan", cwd=tmp_path, subprocess=False)
    assert run.code == 0, run.output
    html = (tmp_path / "plan" / "report.html").read_text()
    assert "Priorities (solved in order" in html and "disruption" in html


def test_auto_picks_highs(tmp_path: Path) -> None:
    scenario = load_scenario(write_priorities(tmp_path, CASES["travel ±5%, balance"]))
    choice = choose(scenario, SolveSettings.merged(scenario, time_limit=5))
    assert choice.method == "highs" and "objective.priorities" in choice.why


@pytest.mark.parametrize("args", [("--backend", "heuristic"),
                                  ("--regions", "2", "--scheduler", "serial")])
def test_the_heuristic_and_the_regions_refuse_priorities(args: tuple[str, ...],
                                                         tmp_path: Path) -> None:
    path = write_priorities(tmp_path, CASES["travel ±5%, balance"])
    run = run_cli("solve", path, *args, "--time-limit", "5", "--out", tmp_path / "plan",
                  cwd=tmp_path, subprocess=False)
    assert run.code == 2, run.output
    assert "Traceback" not in run.output
    assert "objective.priorities" in run.output and EXACT_LABEL in run.output
    assert not (tmp_path / "plan").exists()


@pytest.mark.parametrize(("priorities", "changes", "words"), [
    ([{"criterion": "speed"}], {}, ["objective.priorities.0.criterion", "speed"]),
    ([{"criterion": "travel"}, {"criterion": "travel", "slack": 0.1}], {},
     ["objective.priorities", "travel more than once"]),
    ([{"criterion": "travel", "slack": -0.1}], {}, ["objective.priorities.0.slack"]),
    ([], {}, ["objective.priorities is empty"]),
    ([{"criterion": "disruption"}], {"items__current": None},
     ["objective.priorities.0", "disruption needs items.current"]),
    ([{"criterion": "travel"}, {"criterion": "balance"}], {"rules__balance": []},
     ["objective.priorities.1", "balance needs rules.balance"]),
    ([{"criterion": "travel"}],
     {"rules__balance": [{"attribute": "workload", "tolerance": 0.2, "hard": False}]},
     ["objective.priorities", "rules.balance.0", "soft"]),
])
def test_the_schema_refuses_naming_the_yaml_path(priorities: Any, changes: dict[str, Any],
                                                 words: list[str], tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write_priorities(tmp_path, priorities, **changes))
    for word in words:
        assert word in str(info.value), str(info.value)


def test_priorities_and_weights_are_not_mixed(tmp_path: Path) -> None:
    path = write_priorities(tmp_path, [{"criterion": "travel"}])
    spec = yaml.safe_load(path.read_text())
    spec["objective"]["disruption"] = {"weight": 5.0}
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "objective.priorities and objective.disruption.weight" in str(info.value)
