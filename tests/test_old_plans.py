"""Plan directories written by commit 960e0ba still read, evaluate and report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from territory_opt import Plan, load_scenario
from territory_opt.cli import main

ROOT = Path(__file__).resolve().parents[1]
OLD = Path(__file__).parent / "fixtures" / "plans_960e0ba"
CASES = {"small": "small", "nc-counties": "nc-counties"}


def _copy(name: str, tmp_path: Path) -> Path:
    """The old plan directory, with its scenario path pointed at this checkout."""
    folder = tmp_path / name
    shutil.copytree(OLD / name, folder)
    meta_path = folder / "plan.json"
    meta = json.loads(meta_path.read_text())
    meta["scenario"]["path"] = str(ROOT / "scenarios" / CASES[name] / "scenario.yaml")
    meta_path.write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_old_plan_reads_and_evaluates_as_it_was_written(name: str, tmp_path: Path) -> None:
    folder = _copy(name, tmp_path)
    meta = json.loads((folder / "plan.json").read_text())
    plan = Plan.read(folder)
    assert not plan.scenario_changed
    assert str(plan.status) == meta["status"]
    assert plan.objective == pytest.approx(meta["objective"], rel=1e-9)
    assert plan.evaluation.metrics["hard_violations"] == len(
        [v for v in meta["violations"] if v.get("hard", True)])
    assert not plan.disagreements


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_old_plan_evaluates_and_reports_from_the_command_line(name: str,
                                                                 tmp_path: Path) -> None:
    folder = _copy(name, tmp_path)
    scenario = ROOT / "scenarios" / CASES[name] / "scenario.yaml"
    runner = CliRunner()
    evaluated = runner.invoke(main, ["evaluate", str(scenario), "--assignment",
                                     str(folder / "assignment.csv"),
                                     "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    reported = runner.invoke(main, ["report", str(folder)])
    assert reported.exit_code == 0, reported.output
    assert (folder / "report.html").stat().st_size > 10_000
    assert load_scenario(scenario).digest == json.loads(
        (folder / "plan.json").read_text())["scenario"]["digest"]
