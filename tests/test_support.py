"""The support matrix: a rule the chosen solve path cannot honour is refused (exit 2, HTTP 422)
naming the rule and the paths that honour it — never ignored — and ``territory-opt backends``
prints the matrix of every family."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import run_cli
from leads_cases import lead_scenario
from territory_opt import load_scenario, solve
from territory_opt.alignment.support import SUPPORT as ALIGNMENT
from territory_opt.districting.support import SUPPORT as DISTRICTING
from territory_opt.family import FAMILIES, get_family
from territory_opt.leads.support import SUPPORT as LEADS
from territory_opt.support import UnsupportedRuleError
from test_districting_scenario import grid_scenario
from test_groups import write_case

EXACT_LABEL = "exact (highs, cpsat, scip, cbc, pulp:*)"

GROUP_CASES = {
    "rules.groups.together": {"rules": {"groups": {"together": ["parent"]}}},
    "rules.groups.apart": {"rules": {"groups": {"apart": ["pair"]}}},
    "rules.groups.at_most": {"rules": {"groups": {"at_most": [{"tag": "key", "count": 1}]}}},
}


def _refused(result_output: str, rule: str, *honoured: str) -> None:
    assert "Traceback" not in result_output, result_output
    assert rule in result_output, result_output
    for label in honoured:
        assert label in result_output, result_output


@pytest.mark.parametrize("rule", sorted(GROUP_CASES))
def test_the_heuristic_refuses_a_group_rule_naming_the_exact_backends(rule: str,
                                                                       tmp_path: Path) -> None:
    path = write_case(tmp_path, GROUP_CASES[rule])
    run = run_cli("solve", path, "--backend", "heuristic", "--time-limit", "5", "--out",
                  tmp_path / "plan", cwd=tmp_path, subprocess=False)
    assert run.code == 2, run.output
    _refused(run.output, rule, EXACT_LABEL)
    assert not (tmp_path / "plan").exists()


@pytest.mark.parametrize("rule", sorted(GROUP_CASES))
def test_regions_refuse_a_group_rule(rule: str, tmp_path: Path) -> None:
    path = write_case(tmp_path, GROUP_CASES[rule])
    run = run_cli("solve", path, "--regions", "2", "--scheduler", "serial", "--time-limit", "5",
                  "--out", tmp_path / "plan", cwd=tmp_path, subprocess=False)
    assert run.code == 2, run.output
    _refused(run.output, rule, EXACT_LABEL)


def test_regions_refuse_a_disruption_cap_naming_exact_and_heuristic(tmp_path: Path) -> None:
    path = write_case(tmp_path, {"rules": {"disruption": {"max_share": 0.5}}})
    run = run_cli("solve", path, "--regions", "2", "--scheduler", "serial", "--time-limit", "5",
                  "--out", tmp_path / "plan", cwd=tmp_path, subprocess=False)
    assert run.code == 2, run.output
    _refused(run.output, "rules.disruption", EXACT_LABEL, "heuristic")


def test_an_honoured_rule_solves_on_every_path_that_honours_it(tmp_path: Path) -> None:
    scenario = load_scenario(write_case(tmp_path, GROUP_CASES["rules.groups.apart"]))
    plan = solve(scenario, backend="highs", time_limit=10)
    assert plan.status.has_plan and plan.evaluation.feasible
    with pytest.raises(UnsupportedRuleError, match=r"rules\.groups\.apart"):
        solve(scenario, backend="heuristic", time_limit=10)
    assert ALIGNMENT.unsupported(scenario, "auto") == []  # auto picks a path that honours it


DISTRICTING_CASES: dict[str, dict[str, Any]] = {
    "rules.balance (soft)": {"rules": {"balance": [{"attribute": "load", "tolerance": 0.0,
                                                    "hard": False, "penalty": 1.0}]}},
    "rules.max_distance": {"rules": {"max_distance": 50}},
    "objective.disruption": {"objective": {"cut_edges": {}, "disruption": {"weight": 1.0}}},
    "rules.disruption (cap)": {"rules": {"disruption": {"max_share": 0.5}}},
    "pairs": {"pairs": {"path": "pairs.csv", "distance": "km"}},
}
"""Every rule no districting path honours that a districting scenario can state (eligibility
needs a territories table with skills; the grid's territories are a count)."""


@pytest.mark.parametrize("rule", sorted(DISTRICTING_CASES))
@pytest.mark.parametrize("backend", ["auto", "highs", "heuristic"])
def test_districting_refuses_a_rule_no_path_honours(rule: str, backend: str,
                                                    tmp_path: Path) -> None:
    path = grid_scenario(tmp_path, {"cut_edges": {}})
    (tmp_path / "pairs.csv").write_text("item,territory,km\nU0,T1,1.5\nU1,T1,2.5\n")
    spec = yaml.safe_load(path.read_text())
    for section, value in DISTRICTING_CASES[rule].items():
        spec[section] = {**spec.get(section, {}), **value}
    path.write_text(yaml.safe_dump(spec))
    run = run_cli("solve", path, "--backend", backend, "--time-limit", "5", "--out",
                  tmp_path / "plan", cwd=tmp_path, subprocess=False)
    assert run.code == 2, run.output
    _refused(run.output, rule, "no districting path honours it")


def _leads(tmp_path: Path, extra: dict[str, Any]) -> Path:
    lead_scenario(tmp_path, [{"value": 100 + n} for n in range(6)],
                  [{"capacity": 5}, {"capacity": 5}], eligibility=())
    (tmp_path / "pairs.csv").write_text("item,territory,km\nL1,R1,1.5\nL2,R2,2.5\n")
    path = tmp_path / "scenario.yaml"
    spec = yaml.safe_load(path.read_text())
    for section, value in extra.items():
        spec[section] = {**spec.get(section, {}), **copy.deepcopy(value)}
    path.write_text(yaml.safe_dump(spec))
    return path


LEADS_CASES: dict[str, dict[str, Any]] = {
    "rules.balance": {"items": {"attributes": ["value"]},
                      "rules": {"balance": [{"attribute": "value", "tolerance": 0.5}]}},
    "rules.disruption (cap)": {"rules": {"disruption": {"max_share": 0.5}}},
    "territories.capacity": {"items": {"attributes": ["value"]},
                             "territories": {"capacity": {"value": "capacity"}}},
    "rules.max_distance": {"rules": {"max_distance": 50}},
    "pairs": {"pairs": {"path": "pairs.csv", "distance": "km"}},
}
"""Every alignment rule a leads scenario can state, which no lead path honours."""


@pytest.mark.parametrize("rule", sorted(LEADS_CASES))
def test_leads_refuse_an_alignment_rule(rule: str, tmp_path: Path) -> None:
    path = _leads(tmp_path, LEADS_CASES[rule])
    run = run_cli("solve", path, "--time-limit", "5", "--out", tmp_path / "plan",
                  cwd=tmp_path, subprocess=False)
    assert run.code == 2, run.output
    _refused(run.output, rule, "no leads path honours it")


def test_validate_refuses_a_rule_the_scenarios_backend_cannot_honour(tmp_path: Path) -> None:
    path = write_case(tmp_path, GROUP_CASES["rules.groups.together"])
    spec = yaml.safe_load(path.read_text())
    spec["solver"] = {**spec.get("solver", {}), "backend": "heuristic"}
    path.write_text(yaml.safe_dump(spec))
    run = run_cli("validate", path, cwd=tmp_path, subprocess=False)
    assert run.code == 2, run.output
    _refused(run.output, "rules.groups.together", EXACT_LABEL)


def test_backends_prints_every_familys_matrix(tmp_path: Path) -> None:
    run = run_cli("backends", cwd=tmp_path, subprocess=False)
    assert run.code == 0, run.output
    for family in FAMILIES:
        assert f"{family}: which path honours which rule" in run.stdout
    assert "rules.groups.together" in run.stdout and "refused" in run.stdout
    data = json.loads(run_cli("backends", "--json", cwd=tmp_path, subprocess=False).stdout)
    assert {r["name"] for r in data["backends"]} >= {"highs", "heuristic"}
    rows = {r["rule"]: r for r in data["rules"]["alignment"]}
    assert rows["rules.groups.apart"]["heuristic"] == "refused"
    assert rows["rules.groups.apart"][EXACT_LABEL] == "yes"
    assert rows["rules.disruption (cap)"]["decomposed (--regions)"] == "refused"


def test_every_family_has_a_matrix_whose_rules_read_on_the_bundled_scenarios() -> None:
    root = Path(__file__).resolve().parents[1] / "scenarios"
    matrices = {m.family: m for m in (ALIGNMENT, DISTRICTING, LEADS)}
    for name in FAMILIES:
        assert get_family(name).support is matrices[name]
    for path in sorted(root.glob("*/scenario.yaml")):
        scenario = load_scenario(path)
        matrix = get_family(scenario.spec.model).support
        for rule in matrix.rules:
            rule.used(scenario)  # reads without error on every shape of scenario
        # every bundled scenario solves on its own backend and on auto
        backend = scenario.spec.solver.backend
        assert matrix.unsupported(scenario, backend) == [], path
        assert matrix.unsupported(scenario, "auto") == [], path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # starlette's TestClient on httpx
def test_the_service_refuses_a_rule_the_chosen_backend_cannot_honour(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from territory_opt.service.app import create_app
    from territory_opt.service.config import ServiceConfig

    path = write_case(tmp_path, GROUP_CASES["rules.groups.at_most"])
    document = yaml.safe_load(path.read_text())
    tables = {name: (tmp_path / name).read_text() for name in ("accounts.csv", "reps.csv")}
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    with TestClient(create_app(config, start_workers=False)) as client:
        response = client.post("/v1/jobs", json={"scenario": document, "tables": tables,
                                                 "options": {"backend": "heuristic"}})
    assert response.status_code == 422, response.text
    assert "rules.groups.at_most" in response.text and "exact" in response.text
