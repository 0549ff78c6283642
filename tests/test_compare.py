"""Comparing allocations: KPIs side by side, moves with their effect per objective term and
the rule that forced them; the compare command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cases import VARIANTS, write_scenario
from territory_opt import compare, load_scenario, solve
from territory_opt.geo import haversine_km
from territory_opt.scenario.model import Scenario


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "territory_opt.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def index(scenario: Scenario, ids: list[str]) -> np.ndarray:
    position = {t: k for k, t in enumerate(scenario.territory_ids)}
    return np.array([position[t] for t in ids])


def test_one_move_by_hand(tmp_path: Path) -> None:
    # Current: A1,A2→R1; A3,A4,A5→R2; A6,A7→R3. The plan moves A4 (2 visits) from R2 to R1.
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS[
        "soft potential band + disruption penalty"]))
    plan = scenario.current.copy()
    plan[3] = index(scenario, ["R1"])[0]
    moves = compare(scenario, {"current": scenario.current, "plan": plan}).moves
    assert moves["item"].tolist() == ["A4"]
    assert moves[["from", "to"]].iloc[0].tolist() == ["R2", "R1"]
    km = haversine_km(np.array([0.5]), np.array([1.1]), np.array([[0.0, 0.8]]),
                      np.array([[0.0, 1.1]]))[0]
    assert moves["delta_travel"].iloc[0] == pytest.approx(2 * (km[0] - km[1]))
    assert moves["delta_disruption"].iloc[0] == pytest.approx(40.0)
    total = moves[["delta_travel", "delta_disruption", "delta_balance_penalty"]].sum(axis=1)
    assert moves["delta_objective"].iloc[0] == pytest.approx(float(total.iloc[0]))


def test_costly_move_is_forced_by_the_lock(tmp_path: Path) -> None:
    # A5 is locked to R1, which is far: the plan that keeps the lock pays travel for it.
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS[
        "lock + eligibility + capacity + max distance"]))
    plan = solve(scenario, backend="highs", time_limit=20)
    result = compare(scenario, {"current": scenario.current, "plan": plan.assignment})
    a5 = result.moves.set_index("item").loc["A5"]
    assert a5["delta_travel"] > 0
    assert "lock" in a5["forced_by"]
    free = result.moves[result.moves["delta_objective"] < 0]
    assert (free["forced_by"] == "").all()
    kpis = result.kpis()
    assert list(kpis.columns) == ["current", "plan"]
    assert kpis.loc["hard_violations", "plan"] == 0


def test_compare_command_prints_kpis_and_moves(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, VARIANTS["balance only"])
    for name, backend in (("exact", "highs"), ("heuristic", "heuristic")):
        done = run_cli("solve", str(path), "--out", str(tmp_path / name), "--backend", backend,
                       "--time-limit", "10")
        assert done.returncode == 0, done.stderr
    out = tmp_path / "moves.csv"
    result = run_cli("compare", str(tmp_path / "exact"), str(tmp_path / "heuristic"),
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    for text in ("current", "exact", "heuristic", "exact vs current", "forced by"):
        assert text in result.stdout
    moves = pd.read_csv(out, keep_default_na=False)
    assert set(moves["plan"]) <= {"exact", "heuristic"}
    assert {"item", "from", "to", "delta_travel", "forced_by"} <= set(moves.columns)
    as_json = run_cli("compare", str(tmp_path / "exact"), "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert set(json.loads(as_json.stdout)["plans"]) == {"current", "exact"}


def test_compare_refuses_plans_of_different_scenarios(tmp_path: Path) -> None:
    paths = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        scenario = write_scenario(folder, VARIANTS["balance only"])
        done = run_cli("solve", str(scenario), "--out", str(folder / "plan"),
                       "--time-limit", "10")
        assert done.returncode == 0, done.stderr
        paths.append(str(folder / "plan"))
    result = run_cli("compare", *paths)
    assert result.returncode == 2 and "one scenario" in result.stderr
    alone = run_cli("compare", paths[0], "--no-current")
    assert alone.returncode == 2 and "nothing to compare" in alone.stderr
