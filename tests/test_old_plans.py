"""Plan directories written by commit 960e0ba still read, evaluate and report."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from territory_opt import Plan, load_scenario
from territory_opt.cli import main

ROOT = Path(__file__).resolve().parents[1]
OLD = Path(__file__).parent / "fixtures" / "plans_960e0ba"
CASES = {"small": Path(__file__).parent / "fixtures" / "scenario_small_960e0ba",
         "nc-counties": ROOT / "scenarios" / "nc-counties"}
"""Each old plan's scenario as 960e0ba had it (the bundled small scenario has changed since:
its solver backend is auto now, and a plan records the digest of its scenario's files)."""


def _copy(name: str, tmp_path: Path) -> Path:
    """The old plan directory, with its scenario path pointed at this checkout."""
    folder = tmp_path / name
    shutil.copytree(OLD / name, folder)
    meta_path = folder / "plan.json"
    meta = json.loads(meta_path.read_text())
    meta["scenario"]["path"] = str(CASES[name] / "scenario.yaml")
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
    scenario = CASES[name] / "scenario.yaml"
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


def test_a_sweep_resumes_from_results_written_by_960e0ba(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoints are keyed by the scenario's digest, the settings and the version: with the
    version they were written under, today's code finds them and solves nothing again."""
    from territory_opt.studies import sweep as sweep_module

    old = Path(__file__).parent / "fixtures" / "sweep_960e0ba"
    records = [json.loads(p.read_text()) for p in sorted((old / "results").glob("*.json"))]
    monkeypatch.setattr(sweep_module, "__version__", records[0]["territory_opt_version"])
    out = tmp_path / "out"
    shutil.copytree(old / "results", out / "results")
    solved: list[object] = []
    monkeypatch.setattr(sweep_module, "solve", lambda *a, **k: solved.append(a))
    result = sweep_module.run_sweep(old / "sweep.yaml", out_dir=out, scheduler="serial",
                                    progress=False)
    assert result.skipped == len(records) == 2
    assert solved == []
    by_name = {r.name: r for r in result.records}
    for record in records:
        assert by_name[record["name"]].objective == pytest.approx(record["objective"])
        assert by_name[record["name"]].assignment == record["assignment"]


def test_a_job_database_written_by_960e0ba_still_serves_and_runs(tmp_path: Path) -> None:
    """The service's SQLite job store of 960e0ba: its finished job reads with its plan, and its
    queued job is solved by today's worker."""
    from territory_opt.service.store import JobStore
    from territory_opt.service.worker import run_job

    database = tmp_path / "jobs.sqlite"
    shutil.copy(Path(__file__).parent / "fixtures" / "service_960e0ba" / "jobs.sqlite", database)
    store = JobStore(f"sqlite:///{database}")
    jobs = {job.name: job for job in store.list("local")}
    done = jobs["small"]
    assert done.status == "done" and done.result is not None
    assert done.public()["status"] == "done"
    assert len(done.result["assignment"]) == 200
    queued = store.claim("today")
    assert queued is not None and queued.name == "small-queued"
    run_job(store, queued, "today", os.getppid())
    solved = store.get(queued.id)
    assert solved is not None and solved.status == "done", solved and solved.error
    assert solved.result is not None and set(solved.result) >= set(done.result)
