"""Infeasible scenarios exit with status 2 and name the conflicting rules and the amounts.

The expected amounts are computed here from the data the test writes (totals, FTE-share targets,
great-circle distances), then looked for among the numbers of the message, to its rounding.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from conftest import (
    TinyScenario,
    assert_mentions,
    assert_number,
    run_cli,
    run_failing,
)

PROGRESS_PLAN = re.compile(r"\bplan [\d.,]+\s+bound")
"""A progress line that reports a plan (the probes of the diagnosis must not print one)."""


def _total(s: TinyScenario, column: str) -> float:
    return float(sum(float(a[column]) for a in s.accounts))


def _target(s: TinyScenario, column: str) -> float:
    """FTE-share target of each rep (all reps of the tiny scenario have fte 1)."""
    assert all(float(r["fte"]) == 1 for r in s.reps)
    return _total(s, column) / len(s.reps)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371.0088 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def _nearest_home_km(s: TinyScenario, item: dict[str, Any]) -> float:
    return min(_km(float(item["lat"]), float(item["lon"]), float(r["home_lat"]),
                   float(r["home_lon"])) for r in s.reps)


def _equal_accounts(s: TinyScenario, n: int, workload: float, current: str) -> None:
    """Replace the accounts by ``n`` equal smb accounts near Greensboro, all on ``current``."""
    s.accounts = [
        {"id": f"E{i}", "lat": 36.0 + 0.01 * i, "lon": -79.8, "potential": 50,
         "workload": workload, "segment": "smb", "current_rep": current, "lock": ""}
        for i in range(1, n + 1)
    ]


# --- (a) total load vs total capacity ---------------------------------------------------------


def _too_small_capacity(s: TinyScenario) -> tuple[float, float]:
    for rep in s.reps:
        rep["cap"] = 20
    s.spec["territories"]["capacity"] = {"workload": "cap"}
    return _total(s, "workload"), float(sum(r["cap"] for r in s.reps))


@pytest.mark.parametrize("command", ["solve", "validate"])
def test_total_load_above_total_capacity(tiny: TinyScenario, command: str) -> None:
    total, room = _too_small_capacity(tiny)
    assert total > room  # 72 > 60
    args = () if command == "solve" else ("validate", tiny.yaml_path)
    result = run_failing(tiny, *args, subprocess=True)
    assert_mentions(result.stderr, "infeasible", "capacity workload", "total workload")
    assert_number(result.stderr, total)
    assert_number(result.stderr, room)
    assert_number(result.stderr, total - room)


def test_validate_json_lists_the_conflict(tiny: TinyScenario) -> None:
    _too_small_capacity(tiny)
    result = run_failing(tiny, "validate", tiny.yaml_path, "--json")
    assert '"valid": false' in result.stdout
    assert_mentions(result.stdout, "capacity workload")


def test_band_floor_above_capacity(tiny: TinyScenario) -> None:
    for rep in tiny.reps:
        rep["cap"] = 40
    tiny.reps[0]["cap"] = 15
    tiny.spec["territories"]["capacity"] = {"workload": "cap"}
    tolerance = tiny.spec["rules"]["balance"][0]["tolerance"]
    floor = (1 - tolerance) * _target(tiny, "workload")  # 19.2 > 15
    result = run_failing(tiny)
    assert_mentions(result.stderr, "balance workload ±20% + capacity", "R1")
    assert_number(result.stderr, floor)
    assert_number(result.stderr, 15)


# --- (b) locked items above a band ------------------------------------------------------------


@pytest.mark.parametrize("how", ["lock column", "rules.locks"])
def test_locked_items_above_band(tiny: TinyScenario, how: str) -> None:
    big = ["A1", "A2", "A3"]  # workload 12 each
    if how == "lock column":
        for item in big:
            tiny.account(item)["lock"] = "R1"
    else:
        tiny.spec["rules"]["locks"] = dict.fromkeys(big, "R1")
    locked = sum(float(tiny.account(i)["workload"]) for i in big)
    ceiling = (1 + tiny.spec["rules"]["balance"][0]["tolerance"]) * _target(tiny, "workload")
    assert locked > ceiling  # 36 > 28.8
    result = run_failing(tiny, subprocess=how == "lock column")
    assert_mentions(result.stderr, "locks + balance workload", "R1", "locked workload")
    assert_number(result.stderr, locked)
    assert_number(result.stderr, ceiling)
    assert_number(result.stderr, locked - ceiling)


def test_locked_items_above_capacity(tiny: TinyScenario) -> None:
    for rep in tiny.reps:
        rep["cap"] = 30
    tiny.spec["territories"]["capacity"] = {"workload": "cap"}
    tiny.spec["rules"]["balance"] = []
    for item in ("A1", "A2", "A3"):
        tiny.account(item)["lock"] = "R2"
    result = run_failing(tiny)
    assert_mentions(result.stderr, "locks + capacity workload", "R2")
    assert_number(result.stderr, 36)
    assert_number(result.stderr, 30)


# --- (c) items nobody may take ----------------------------------------------------------------


def test_item_no_rep_is_skilled_for(tiny: TinyScenario) -> None:
    tiny.account("A8")["segment"] = "government"
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, "eligibility (segment): 1 item(s)", "A8",
                    "segment='government': no territory has this skill")
    assert "max distance" not in result.stderr


def test_item_beyond_max_distance(tiny: TinyScenario) -> None:
    far = tiny.account("A8")
    far["lat"], far["lon"] = 39.95, -75.17  # Philadelphia
    tiny.spec["rules"]["max_distance_km"] = 150
    nearest = _nearest_home_km(tiny, far)
    assert nearest > 150
    assert all(_nearest_home_km(tiny, a) <= 150 for a in tiny.accounts if a is not far)
    result = run_failing(tiny)
    assert_mentions(result.stderr, "max distance 150 km: 1 item(s)", "A8", "nearest home")
    assert "eligibility" not in result.stderr  # A8 is smb: every rep has the skill
    assert_number(result.stderr, nearest)
    assert_number(result.stderr, 150)


def test_items_shut_out_by_skill_distance_or_both(tiny: TinyScenario) -> None:
    """Each homeless item is blamed on its own rule; the conflict names the union."""
    tiny.reps[1]["skills"] = tiny.reps[2]["skills"] = "smb"  # only R1 (Charlotte) does enterprise
    tiny.spec["rules"]["max_distance_km"] = 150
    tiny.account("A7").update(lat=39.95, lon=-75.17)  # smb, in Philadelphia: too far for all
    tiny.account("A8")["segment"] = "government"  # nobody has the skill
    # A3 (enterprise, Raleigh) may only go to R1, more than 150 km away; A6 (enterprise,
    # Greensboro) is within reach of R1, so it is not listed.
    a3 = tiny.account("A3")
    r1 = tiny.reps[0]
    a3_to_r1 = _km(a3["lat"], a3["lon"], r1["home_lat"], r1["home_lon"])
    a6 = tiny.account("A6")
    assert a3_to_r1 > 150 >= _km(a6["lat"], a6["lon"], r1["home_lat"], r1["home_lon"])
    result = run_failing(tiny)
    assert_mentions(
        result.stderr,
        "eligibility (segment) + max distance 150 km: 3 item(s)",
        "A3 (segment='enterprise'; nearest home with that skill",
        "A7 (nearest home",
        "A8 (segment='government': no territory has this skill)",
    )
    assert "A6" not in result.stderr
    assert_number(result.stderr, a3_to_r1)
    assert_number(result.stderr, _nearest_home_km(tiny, tiny.account("A7")))


# --- (d) a disruption cap the bands make impossible -------------------------------------------


@pytest.mark.parametrize("attribute", ["items", "workload"])
def test_disruption_cap_below_forced_moves(tiny: TinyScenario, attribute: str) -> None:
    # 9 equal accounts, all on R1; 3 equal reps with ±5% bands need exactly 3 accounts each,
    # so 6 of 9 accounts (2/3 of the items and of the workload) must move.
    _equal_accounts(tiny, 9, workload=10, current="R1")
    tiny.spec["rules"]["balance"] = [{"attribute": "workload", "tolerance": 0.05}]
    tiny.spec["rules"]["disruption"] = {"attribute": attribute, "max_share": 0.1}
    forced = 6 / 9
    result = run_failing(tiny, subprocess=attribute == "items")
    assert_mentions(result.stderr, "disruption cap", "balance (workload ±5%)",
                    "force moving at least", "the cap allows 10.0%")
    assert_number(result.stderr, round(100 * forced, 1), abs_=0.05)
    assert_number(result.stderr, 10.0, abs_=0.05)
    assert_number(result.stderr, round(100 * (forced - 0.1), 1), abs_=0.05)
    assert not PROGRESS_PLAN.search(result.stderr), "a diagnostic probe's progress was printed"


def test_disruption_cap_that_fits_solves(tiny: TinyScenario) -> None:
    """Control for (d): with a cap of 70% the same scenario solves (moves exactly 6 of 9)."""
    _equal_accounts(tiny, 9, workload=10, current="R1")
    tiny.spec["rules"]["balance"] = [{"attribute": "workload", "tolerance": 0.05}]
    tiny.spec["rules"]["disruption"] = {"attribute": "items", "max_share": 0.7}
    tiny.write()
    result = run_cli("solve", tiny.yaml_path, "--out", tiny.out_dir, "--time-limit", "10",
                     "--json", cwd=tiny.root, subprocess=False)
    assert result.code == 0, result.output
    moved = [line for line in (tiny.out_dir / "assignment.csv").read_text().splitlines()[1:]
             if ",R1" not in line]
    assert len(moved) == 6


# --- found only by the solver: indivisible accounts vs tight bands ----------------------------


def _indivisible(s: TinyScenario) -> list[float]:
    """2 reps, accounts of workload 10, 10 and 3 with ±5% bands: no split fits."""
    s.reps = s.reps[:2]
    workloads = [10.0, 10.0, 3.0]
    _equal_accounts(s, len(workloads), workload=0, current="R1")
    for account, w in zip(s.accounts, workloads, strict=True):
        account["workload"] = w
    s.accounts[2]["current_rep"] = "R2"
    s.spec["rules"]["balance"] = [{"attribute": "workload", "tolerance": 0.05}]
    return workloads


def test_indivisible_accounts_pass_quick_checks(tiny: TinyScenario) -> None:
    """The quick checks see nothing: ``validate`` passes; only the solver can tell."""
    _indivisible(tiny)
    tiny.write()
    result = run_cli("validate", tiny.yaml_path, cwd=tiny.root, subprocess=False)
    assert result.code == 0, result.output


def test_indivisible_accounts_elastic_explanation(tiny: TinyScenario) -> None:
    workloads = _indivisible(tiny)
    target = sum(workloads) / 2  # 11.5, band [10.925, 12.075]
    band = (0.95 * target, 1.05 * target)
    # The least-violating split is {10} / {10, 3}: one rep short of the floor, one over the ceiling.
    short, over = band[0] - 10, 13 - band[1]
    assert short == pytest.approx(over)  # 0.925 each, 8.0% of the target
    result = run_failing(tiny, subprocess=True)
    assert_mentions(result.stderr, "infeasible", "balance workload", "R1", "R2", "short by",
                    "over by")
    assert_number(result.stderr, short)
    assert_number(result.stderr, round(100 * short / target, 1), abs_=0.05)
    assert not PROGRESS_PLAN.search(result.stderr), "a diagnostic probe's progress was printed"
