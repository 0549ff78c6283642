"""The manager's review loop: ``territory-opt review``, ``solve --review``, the Python API and
the service endpoints (issue 24, item 4)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from territory_opt import Plan, ReviewOutcome, apply_review, review
from territory_opt.studies.review import ReviewError

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small" / "scenario.yaml"
SOLVE = ("--backend", "highs", "--gap", "0.02", "--time-limit", "10", "--seed", "0")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan of scenarios/small (HiGHS to a 2% gap: under a second) with its review.csv."""
    folder = tmp_path_factory.mktemp("review")
    done = run_cli("solve", SMALL, *SOLVE, "--out", "plan", cwd=folder, subprocess=False)
    assert done.code == 0, done.stderr
    done = run_cli("review", "plan", cwd=folder, subprocess=False)
    assert done.code == 0, done.stderr
    assert "to review written to" in done.stdout
    return folder / "plan"


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]], *, sep: str = ",",
           bom: bool = True) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        csv.writer(f, delimiter=sep, lineterminator="\r\n").writerows([header, *rows])


def test_review_csv_lists_every_move_with_names_reasons_and_an_empty_decision(
        reviewed: Path) -> None:
    plan = Plan.read(reviewed)
    header, rows = _rows(reviewed / "review.csv")
    assert header[:6] == ["item", "from", "from_name", "to", "to_name", "reason"]
    assert header[-1] == "decision" and "objective_change" in header
    for attribute in ("workload_h", "potential"):  # the balance rules of `small`
        assert {attribute, f"{attribute}_from_dev_pct", f"{attribute}_to_dev_pct_if_rejected"
                } <= set(header)
    assert {"km_from", "km_to"} <= set(header)
    s = plan.scenario
    moved = set(s.item_ids[(plan.assignment != s.current)].tolist())
    assert {r[0] for r in rows} == moved and len(rows) == len(moved)
    assert all(r[-1] == "" for r in rows)
    names = dict(zip(s.territory_ids.tolist(), s.territory_names.tolist(), strict=True))
    assert all(r[2] == names[r[1]] and r[4] == names[r[3]] for r in rows)
    assert all(r[5] for r in rows)  # every move has a reason
    order = [(s.territory_ids.tolist().index(r[1]), s.item_ids.tolist().index(r[0]))
             for r in rows]
    assert order == sorted(order)  # by losing territory, then item
    frame = review(reviewed)  # the API gives the same table
    assert list(frame.columns) == header and list(frame["item"]) == [r[0] for r in rows]


def test_round_trip_rejects_three_moves_and_keeps_the_others(reviewed: Path) -> None:
    """The acceptance test: reject three moves (Excel-style words), leave the rest empty,
    re-solve: the three are back with their current reps, every other move is kept, and the
    cost of the rejections is reported."""
    folder = reviewed.parent
    header, rows = _rows(reviewed / "review.csv")
    decision = header.index("decision")
    rejected = [rows[0][0], rows[len(rows) // 2][0], rows[-1][0]]
    for row in rows:
        if row[0] in rejected:
            row[decision] = " Reject"
    rows[1][decision] = rows[1][decision] or "ACCEPT"
    edited = folder / "edited"
    edited.mkdir()
    # Saved by European Excel: byte-order mark, ';' between cells, CRLF.
    for name in ("plan.json", "assignment.csv", "territories.csv"):
        (edited / name).write_bytes((reviewed / name).read_bytes())
    _write(edited / "review.csv", header, rows, sep=";")
    done = run_cli("solve", SMALL, "--review", edited / "review.csv", "--out", "after",
                   cwd=folder, subprocess=False)
    assert done.code == 0, done.stderr
    assert "3 move(s) rejected" in done.stdout and "the rejections cost" in done.stdout

    before, after = Plan.read(reviewed), Plan.read(folder / "after")
    s = before.scenario
    index = {item: i for i, item in enumerate(s.item_ids.tolist())}
    back = [index[item] for item in rejected]
    assert (after.assignment[back] == s.current[back]).all()
    kept = [index[r[0]] for r in rows if r[0] not in rejected]
    assert (after.assignment[kept] == before.assignment[kept]).all()

    outcome = json.loads((folder / "after" / "review-outcome.json").read_text())
    assert sorted(outcome["rejected"]) == sorted(rejected)
    assert outcome["accepted"] == len(rows) - 3
    assert outcome["gap_target"] == pytest.approx(0.02)  # the reviewed plan's settings
    assert outcome["reviewed"]["objective"] == pytest.approx(before.objective)
    assert outcome["new"]["objective"] == pytest.approx(after.objective)
    # The new plan is more constrained: no better than the reviewed plan's proven bound.
    assert after.objective >= before.bound - 1e-6
    assert outcome["cost"] == pytest.approx(after.objective - before.objective)
    costs = {row["rule"]: row for row in outcome["costs"]}
    assert {"objective", "objective: travel", "objective: disruption",
            "balance workload_h: largest deviation %", "hard violations"} <= set(costs)
    terms = after.evaluation.objective.as_dict()
    assert costs["objective: travel"]["new"] == pytest.approx(terms["travel"])
    recorded = json.loads((folder / "after" / "plan.json").read_text())
    assert recorded["options"]["review"]["rejected"] == outcome["rejected"]
    assert recorded["options"]["gap"] == pytest.approx(0.02)


def test_api_apply_review_with_a_table(reviewed: Path) -> None:
    plan = Plan.read(reviewed)
    table = review(plan)
    table.loc[table.index[:2], "decision"] = "reject"
    outcome = apply_review(plan, table, time_limit=10)
    assert isinstance(outcome, ReviewOutcome)
    s = plan.scenario
    index = {item: i for i, item in enumerate(s.item_ids.tolist())}
    back = np.asarray([index[i] for i in table["item"][:2]])
    assert outcome.rejected == sorted(outcome.rejected, key=index.get)
    assert (outcome.plan.assignment[back] == s.current[back]).all()
    assert len(outcome.accepted) == len(table) - 2
    costs = outcome.costs()
    assert list(costs.columns) == ["rule", "reviewed", "new", "change"]
    assert costs.iloc[0]["change"] == pytest.approx(outcome.cost)
    assert outcome.plan.objective >= plan.bound - 1e-6


@pytest.mark.parametrize(("cell", "column", "found"), [
    ("maybe", "decision", "'maybe'"),
    ("", "item", "'NOPE'"),
])
def test_a_bad_review_row_is_exit_2_naming_row_column_found_and_expected(
        reviewed: Path, tmp_path: Path, cell: str, column: str, found: str) -> None:
    header, rows = _rows(reviewed / "review.csv")
    if column == "decision":
        rows[2][header.index("decision")] = cell
    else:
        rows[2][0] = "NOPE"
    for name in ("plan.json", "assignment.csv", "territories.csv"):
        (tmp_path / name).write_bytes((reviewed / name).read_bytes())
    _write(tmp_path / "review.csv", header, rows, bom=False)
    done = run_cli("solve", SMALL, "--review", tmp_path / "review.csv", "--out",
                   tmp_path / "never", cwd=tmp_path, subprocess=False)
    assert done.code == 2, done.stderr
    assert "review.csv, row 3 (line 4)" in done.stderr
    assert f"{column}: found {found}; expected" in done.stderr
    assert not (tmp_path / "never").exists()


def test_an_item_the_plan_does_not_move_and_a_missing_column_are_refused(
        reviewed: Path) -> None:
    plan = Plan.read(reviewed)
    s = plan.scenario
    still = str(s.item_ids[np.flatnonzero(plan.assignment == s.current)[0]])
    with pytest.raises(ReviewError, match="which the plan leaves with"):
        apply_review(plan, {still: "reject"})
    with pytest.raises(ReviewError, match="a column named 'decision'"):
        apply_review(plan, pd.DataFrame({"item": [still]}))


def test_review_is_refused_with_regions_and_plan_without_review(reviewed: Path) -> None:
    folder = reviewed.parent
    done = run_cli("solve", SMALL, "--review", reviewed / "review.csv", "--regions", "2",
                   "--out", "never", cwd=folder, subprocess=False)
    assert done.code == 2 and "not supported with --regions" in done.stderr
    done = run_cli("solve", SMALL, "--plan", reviewed, "--out", "never", cwd=folder,
                   subprocess=False)
    assert done.code == 2 and "give --review too" in done.stderr
    assert not (folder / "never").exists()


def test_review_refuses_to_overwrite_decisions_without_force(reviewed: Path,
                                                             tmp_path: Path) -> None:
    header, rows = _rows(reviewed / "review.csv")
    rows[0][-1] = "reject"
    target = tmp_path / "mine.csv"
    _write(target, header, rows)
    done = run_cli("review", reviewed, "--out", target, cwd=tmp_path, subprocess=False)
    assert done.code == 2 and "1 decision(s)" in done.stderr
    assert "reject" in target.read_text(encoding="utf-8-sig")
    done = run_cli("review", reviewed, "--out", target, "--force", cwd=tmp_path,
                   subprocess=False)
    assert done.code == 0, done.stderr
    assert all(r[-1] == "" for r in _rows(target)[1])
    done = run_cli("review", reviewed, "--out", reviewed / "plan.json", cwd=tmp_path,
                   subprocess=False)
    assert done.code == 2 and "refusing to write" in done.stderr


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # starlette's TestClient on httpx
def test_service_review_round_trip(tmp_path: Path) -> None:
    """GET a finished job's review.csv, POST decisions, run the queued job, GET the outcome."""
    from fastapi.testclient import TestClient

    from territory_opt.service.app import create_app
    from territory_opt.service.config import ServiceConfig
    from territory_opt.service.store import JobStore
    from territory_opt.service.worker import run_job

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    folder = SMALL.parent
    document = {**_yaml(SMALL), "solver": {"backend": "highs", "gap": 0.02, "time_limit": 10}}
    body = {"scenario": document, "tables": {name: (folder / name).read_text()
                                             for name in ("accounts.csv", "reps.csv")}}
    store = JobStore(url)

    def run_queued() -> None:
        job = store.claim("test")
        assert job is not None
        run_job(store, job, "test", os.getppid())

    with TestClient(create_app(ServiceConfig(database_url=url), start_workers=False)) as api:
        job_id = api.post("/v1/jobs", json=body).json()["id"]
        assert api.get(f"/v1/jobs/{job_id}/review").status_code == 409  # no plan yet
        assert api.get("/v1/jobs/nope/review").status_code == 404
        run_queued()
        answer = api.get(f"/v1/jobs/{job_id}/review")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        table = pd.read_csv(io.StringIO(answer.content.decode("utf-8-sig")),
                            dtype=str, keep_default_na=False)
        rejected = list(table["item"][:3])
        bad = api.post(f"/v1/jobs/{job_id}/review", json={"decisions": {rejected[0]: "no"}})
        assert bad.status_code == 422
        assert bad.json()["detail"]["problems"][0]["field"] == "decision"
        assert api.get(f"/v1/jobs/{job_id}/review-outcome").status_code == 409  # not a review
        queued = api.post(f"/v1/jobs/{job_id}/review",
                          json={"decisions": dict.fromkeys(rejected, "reject")})
        assert queued.status_code == 202, queued.text
        new_id = queued.json()["id"]
        assert queued.json()["options"]["review"]["of"] == job_id
        assert queued.json()["options"]["time_limit"] == 10  # the reviewed job's
        run_queued()
        plan = api.get(f"/v1/jobs/{new_id}/plan").json()
        assert plan["job"]["status"] == "done"
        where = {row["item"]: row["territory"] for row in plan["assignment"]}
        old = {row["item"]: row["territory"] for row in
               api.get(f"/v1/jobs/{job_id}/plan").json()["assignment"]}
        assert all(where[item] == row["from"] for item, row in
                   zip(table["item"], table.to_dict("records"), strict=True)
                   if item in rejected)
        assert all(where[item] == old[item] for item in table["item"] if item not in rejected)
        outcome = api.get(f"/v1/jobs/{new_id}/review-outcome").json()
        assert sorted(outcome["rejected"]) == sorted(rejected)
        assert outcome["cost"] == pytest.approx(outcome["new"]["objective"]
                                                - outcome["reviewed"]["objective"])
        assert outcome["costs"][0]["rule"] == "objective"
        assert outcome["gap_target"] == pytest.approx(0.02)


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded
