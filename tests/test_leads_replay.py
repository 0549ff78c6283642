"""Lead scenarios end to end: loading errors, availability, replay of policies, the route
command, and the history KPIs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from leads_cases import lead_scenario
from territory_opt.errors import ScenarioError
from territory_opt.leads.replay import history_metrics, replay, replay_metrics
from territory_opt.scenario.lead_tables import parse_days
from territory_opt.scenario.leads import Availability, parse_window, period_index
from territory_opt.scenario.model import Scenario


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "territory_opt.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def two_weeks(folder: Path, n: int = 240, **section: Any) -> Scenario:
    """``n`` leads over two weeks, two languages and segments, three reps whose weekly
    capacity is short of the volume (so policies differ in what they leave unrouted)."""
    rng = np.random.default_rng(7)
    start = np.datetime64("2026-07-06T00:00:00")  # a Monday
    leads = [{"segment": str(rng.choice(["SMB", "ENT"])),
              "language": str(rng.choice(["en", "es"], p=[0.7, 0.3])),
              "value": int(rng.integers(10, 1000)),
              "created": f"{start + np.timedelta64(int(rng.integers(0, 14 * 86400)), 's')}Z"}
             for _ in range(n)]
    reps = [{"skills": "en;es", "capacity": 50}, {"skills": "en", "capacity": 60},
            {"skills": "es;en", "capacity": 30, "fte": 0.5}]
    rates = [{"rep": "R1", "segment": "SMB", "win_rate": 0.5},
             {"rep": "R2", "segment": "ENT", "win_rate": 0.4},
             {"rep": "R3", "segment": "SMB", "win_rate": 0.3}]
    return lead_scenario(folder, leads, reps, win_rates=rates,
                         leads_section={"window": "6h"} | section)


def test_optimized_beats_round_robin_without_breaching_capacity(tmp_path: Path) -> None:
    scenario = two_weeks(tmp_path)
    metrics = {p: replay_metrics(scenario, replay(scenario, p))
               for p in ("round-robin", "best-fit", "optimized")}
    for policy, m in metrics.items():
        assert m["capacity_breaches"] == 0, policy
    assert metrics["optimized"]["expected_revenue"] > metrics["round-robin"]["expected_revenue"]
    assert metrics["best-fit"]["expected_revenue"] > metrics["round-robin"]["expected_revenue"]
    # Optimized routes the window's leads late (at the window's end), never before creation.
    assert metrics["optimized"]["response_hours_mean"] > 0
    assert metrics["round-robin"]["response_hours_mean"] == 0


def test_replay_is_deterministic(tmp_path: Path) -> None:
    scenario = two_weeks(tmp_path, n=120)
    for policy in ("round-robin", "best-fit", "optimized"):
        first, second = replay(scenario, policy), replay(scenario, policy)
        assert np.array_equal(first.assignment, second.assignment), policy


def test_window_changes_only_the_optimized_policy(tmp_path: Path) -> None:
    scenario = two_weeks(tmp_path, n=120)
    hourly = replay(scenario, "optimized", window_seconds=3600)
    daily = replay(scenario, "optimized", window_seconds=86400)
    assert hourly.windows > daily.windows
    assert replay_metrics(scenario, daily)["response_hours_mean"] > replay_metrics(
        scenario, hourly)["response_hours_mean"]


def test_history_kpis_by_hand(tmp_path: Path) -> None:
    scenario = lead_scenario(tmp_path, [
        {"outcome": "won", "amount": 300, "days_to_close": 10},
        {"outcome": "won", "amount": 100, "days_to_close": 30},
        {"outcome": "lost", "amount": "", "days_to_close": 5},
        {"outcome": "", "amount": "", "days_to_close": ""}], [{"skills": ""}])
    assert history_metrics(scenario) == pytest.approx({
        "closed_leads": 3.0, "conversion_rate": 2 / 3, "avg_deal_size": 200.0,
        "won_revenue": 400.0, "sales_cycle_days": 20.0})


def test_availability_waits_for_the_next_shift() -> None:
    # Rep 0: Mon-Fri 12:00-21:00 UTC; rep 1: every day 22:00-06:00 (past midnight).
    days = np.array([parse_days("Mon-Fri"), parse_days("")])
    shifts = Availability(days=days, start=np.array([720.0, 1320.0]),
                          end=np.array([1260.0, 360.0]))
    t = np.datetime64
    times = np.array([t("2026-07-06T13:00:00"),  # Monday on shift
                      t("2026-07-06T08:00:00"),  # Monday before the shift: 4 h
                      t("2026-07-10T22:00:00"),  # Friday after the shift: Monday 12:00
                      t("2026-07-07T03:00:00"),  # rep 1, inside the shift begun at 22:00
                      t("2026-07-07T07:00:00")], dtype="datetime64[s]")  # rep 1: 15 h
    wait = shifts.wait_seconds(np.array([0, 0, 0, 1, 1]), times) / 3600
    assert wait.tolist() == pytest.approx([0, 4, 62, 0, 15])


def test_days_periods_and_windows_parse() -> None:
    assert parse_days("Tue-Sat").tolist() == [False, True, True, True, True, True, False]
    assert parse_days("Sat-Mon").tolist() == [True, False, False, False, False, True, True]
    assert parse_days("Mon;Wed;Fri").tolist() == [True, False, True, False, True, False, False]
    assert parse_days("Moonday") is None
    monday, sunday = np.datetime64("2026-07-06T00:00:00"), np.datetime64("2026-07-12T23:59:59")
    weeks = period_index(np.array([monday, sunday, sunday + np.timedelta64(1, "s")]), "week")
    assert weeks[0] == weeks[1] and weeks[2] == weeks[1] + 1
    assert parse_window("15min") == 900 and parse_window("1.5d") == 129600
    with pytest.raises(ValueError):
        parse_window("1 hour")


@pytest.mark.parametrize(("change", "found"), [
    ({"leads": {"created": "yesterday"}}, "'yesterday'"),
    ({"reps": {"win_rate": 1.5}}, "1.5"),
    ({"reps": {"days": "Funday"}}, "'Funday'"),
])
def test_bad_lead_and_rep_cells_are_reported_by_row(tmp_path: Path,
                                                     change: dict[str, dict[str, Any]],
                                                     found: str) -> None:
    lead: dict[str, Any] = {"language": "en"} | change.get("leads", {})
    rep: dict[str, Any] = {"skills": "en"} | change.get("reps", {})
    section = {"reps": {"capacity": "capacity", "win_rate": "win_rate", "days": "days"}}
    rep.setdefault("days", "Mon-Fri")
    with pytest.raises(ScenarioError) as info:
        lead_scenario(tmp_path, [{"language": "en"}, lead], [rep], leads_section=section)
    text = str(info.value)
    assert found in text and ("row 2" in text or "row 1" in text)


def test_unknown_rep_in_the_win_rate_table_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        lead_scenario(tmp_path, [{"segment": "SMB"}], [{"skills": ""}],
                      win_rates=[{"rep": "R9", "segment": "SMB", "win_rate": 0.3}])
    assert "win_rates.csv, row 1" in str(info.value) and "rep 'R9'" in str(info.value)


def test_route_command_prints_policies_and_writes_routes(tmp_path: Path) -> None:
    two_weeks(tmp_path, n=80)
    routes = tmp_path / "routes.csv"
    result = run_cli("route", str(tmp_path / "scenario.yaml"), "--out", str(routes))
    assert result.returncode == 0, result.stderr
    for text in ("round-robin", "best-fit", "optimized", "expected revenue",
                 "optimized vs round-robin"):
        assert text in result.stdout
    frame = pd.read_csv(routes, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["lead", "round-robin", "best-fit", "optimized"]
    assert len(frame) == 80
    again = run_cli("route", str(tmp_path / "scenario.yaml"), "--out", str(routes))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_route_json_and_bad_window(tmp_path: Path) -> None:
    two_weeks(tmp_path, n=40)
    result = run_cli("route", str(tmp_path / "scenario.yaml"), "--policy", "best-fit", "--json")
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["policies"]) == {"best-fit"}
    bad = run_cli("route", str(tmp_path / "scenario.yaml"), "--window", "soon")
    assert bad.returncode == 2 and "--window" in bad.stderr and "Traceback" not in bad.stderr


def test_route_refuses_a_scenario_without_leads() -> None:
    demo = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "scenario.yaml"
    result = run_cli("route", str(demo))
    assert result.returncode == 2 and "model: leads" in result.stderr


def test_large_batch_solve_prints_pure_json(tmp_path: Path) -> None:
    """A batch big enough for the flow + column generation path: the plan is proven optimal
    (no fairness) and stdout holds only JSON (no solver banner)."""
    import importlib.util

    from territory_opt import load_scenario
    from territory_opt.leads.batch import DIRECT_MIP_PAIRS
    from territory_opt.leads.model import build_batch

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("leads_build",
                                                  root / "scenarios" / "leads" / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    path = build.write(tmp_path / "s", n_leads=4_000, n_reps=40, seed=1, days=7)
    assert build_batch(load_scenario(path)).n_pairs > DIRECT_MIP_PAIRS
    result = run_cli("solve", str(path), "--out", str(tmp_path / "plan"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "optimal" and summary["kpis"]["unrouted"] == 0
