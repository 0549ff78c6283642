"""Distances in their own units (``pairs.unit``: km, mi, min) and completed pairs.

* a full minutes table: KPIs ``min_mean``/``min_max`` labelled in minutes (no ``km_mean``),
  ``rules.max_distance`` in minutes honoured by the solve (brute-force optimum) and named in
  minutes by its violation, the report's columns and facts in minutes;
* a partial table: completed by ``pairs.complete`` (great-circle km × detour ÷ speed), counted
  by the ``pairs_completed`` KPI with the rule in words; refused without a rule;
* ``max_distance_km`` with a minutes table is refused naming both fields;
* ``territory-opt pairs-from-matrix``: OSRM and Valhalla responses -> the pair CSV; a matrix of
  the wrong shape, not JSON, or of no known engine -> exit 2 with a clear message.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cases import ACCOUNTS, REPS, write_scenario
from conftest import run_cli
from territory_opt import evaluate, solve
from territory_opt.errors import ScenarioError
from territory_opt.family import family_of
from territory_opt.geo import haversine_km
from territory_opt.kpi.metrics import column, metric
from territory_opt.present.report import render_report
from territory_opt.scenario.distance_units import KM_PER_MILE
from territory_opt.scenario.load import load_scenario
from territory_opt.scenario.model import Scenario

KM = haversine_km(ACCOUNTS["lat"].to_numpy()[:, None], ACCOUNTS["lon"].to_numpy()[:, None],
                  REPS["home_lat"].to_numpy()[None, :], REPS["home_lon"].to_numpy()[None, :])
"""Great-circle km, accounts × reps."""

MINUTES = np.round(KM * 1.2 + 5.0, 1)
"""Drive minutes: not proportional to km, so the table, not great-circle km, decides."""


def minutes_table(drop: int = 0) -> pd.DataFrame:
    rows = [{"acct": a, "rep": r, "minutes": float(MINUTES[i, k])}
            for i, a in enumerate(ACCOUNTS["acct"]) for k, r in enumerate(REPS["rep"])]
    return pd.DataFrame(rows[drop:])


def _scenario(folder: Path, pairs: dict[str, Any], table: pd.DataFrame,
              rules: dict[str, Any] | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    table.to_csv(folder / "pairs.csv", index=False)
    variant: dict[str, Any] = {"pairs": {"path": "pairs.csv", "item": "acct", "territory": "rep",
                                         "distance": "minutes", **pairs}}
    if rules is not None:
        variant["rules"] = rules
    return write_scenario(folder, variant)


def _minutes(tmp_path: Path, rules: dict[str, Any] | None = None) -> Scenario:
    return load_scenario(_scenario(tmp_path / "s", {"unit": "min"}, minutes_table(), rules))


def test_full_minutes_table_names_kpis_in_minutes(tmp_path: Path) -> None:
    s = _minutes(tmp_path)
    assert s.distance_unit == "min"
    block = s.distance_block(slice(None))
    np.testing.assert_allclose(block, MINUTES)
    e = evaluate(s, np.array([0, 0, 1, 1, 1, 2, 2]))
    assert "min_mean" in e.metrics and "km_mean" not in e.metrics
    assert {"min_mean", "min_max"} <= set(e.territories.columns)
    assert "km_mean" not in e.territories.columns
    assert e.metrics["pairs_completed"] == 0
    assert metric("min_mean").label == "mean minutes to home"
    assert metric("min_mean").unit == "min"
    assert column("min_max").label == "minutes max"
    assert column("min_mean").label == "minutes mean"


def test_without_pair_table_kpis_stay_in_km(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    s = load_scenario(write_scenario(folder, {}))
    assert s.distance_unit == "km" and s.completion_factor == 1.0
    e = evaluate(s, np.array([0, 0, 1, 1, 1, 2, 2]))
    assert "km_mean" in e.metrics and "pairs_completed" not in e.metrics
    assert {"km_mean", "km_max"} <= set(e.territories.columns)


def test_max_distance_in_minutes_reaches_brute_force_optimum(tmp_path: Path) -> None:
    limit = 160.0
    rules = {"balance": [{"attribute": "workload", "tolerance": 0.3}], "max_distance": limit}
    s = _minutes(tmp_path, rules)
    allowed = s.allowed()
    np.testing.assert_array_equal(allowed, np.less_equal(MINUTES, limit))
    assert not allowed.all()  # the limit shuts some pairs out
    best, assignment = _brute_force_allowed(s)
    assert np.isfinite(best)
    assert (MINUTES[np.arange(7), assignment] <= limit).all()
    plan = solve(s, backend="highs", time_limit=20)
    assert plan.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
    assert plan.evaluation.feasible
    # A plan that breaks the limit: the violation speaks minutes.
    far = np.full(7, 0)
    e = evaluate(s, far)
    messages = [v.message for v in e.violations if v.rule == "max distance"]
    assert messages and all(" min from territory" in m and f"limit {limit:,.1f} min" in m
                            for m in messages), messages


def _brute_force_allowed(s: Scenario) -> tuple[float, np.ndarray]:
    """:func:`cases.brute_force` over the allowed pairs only (16 plans instead of 2,187)."""
    options = [np.flatnonzero(row) for row in s.allowed()]
    best, best_assignment = np.inf, np.zeros(0, dtype=np.int64)
    for combo in itertools.product(*options):
        assignment = np.asarray(combo)
        e = evaluate(s, assignment)
        if e.feasible and e.objective.total < best - 1e-9:
            best, best_assignment = e.objective.total, assignment
    return best, best_assignment


def test_report_shows_minutes(tmp_path: Path) -> None:
    s = load_scenario(_scenario(tmp_path / "s", {"unit": "min", "complete": {
        "detour": 1.3, "speed_kmh": 50}}, minutes_table(drop=2)))
    plan = solve(s, backend="heuristic", time_limit=5)
    html = render_report(plan)
    assert "minutes mean" in html and "minutes max" in html
    assert "km mean" not in html
    assert "minutes from pairs.csv; 2 pair(s) completed as great-circle km × 1.3 at 50 km/h" \
        in html


def test_partial_minutes_table_is_completed_and_counted(tmp_path: Path) -> None:
    s = load_scenario(_scenario(tmp_path / "s", {"unit": "min", "complete": {
        "detour": 1.3, "speed_kmh": 50}}, minutes_table(drop=5)))
    block = s.distance_block(slice(None))
    expected = MINUTES.copy()
    flat = expected.reshape(-1)
    flat[:5] = KM.reshape(-1)[:5] * 1.3 / 50 * 60  # the dropped rows: first 5 pairs
    np.testing.assert_allclose(block, expected)
    e = evaluate(s, np.array([0, 0, 1, 1, 1, 2, 2]))
    assert e.metrics["pairs_completed"] == 5
    describe = dict(family_of(s).views.describe(s))
    assert describe["distances"] == ("minutes from pairs.csv; 5 pair(s) completed as "
                                     "great-circle km × 1.3 at 50 km/h")


def test_partial_miles_table_completes_in_miles(tmp_path: Path) -> None:
    table = minutes_table(drop=1).rename(columns={"minutes": "miles"})
    s = load_scenario(_scenario(tmp_path / "s", {"unit": "mi", "distance": "miles",
                                                  "complete": {"detour": 1.2}}, table))
    assert s.distance(np.array([0]), np.array([0]))[0] == pytest.approx(
        KM[0, 0] * 1.2 / KM_PER_MILE)
    e = evaluate(s, np.array([0, 0, 1, 1, 1, 2, 2]))
    assert "mi_mean" in e.metrics and e.metrics["pairs_completed"] == 1


def test_partial_minutes_table_without_rule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario(tmp_path / "s", {"unit": "min"}, minutes_table(drop=4)))
    text = str(info.value)
    for part in ("pairs.csv", "4 allowed pair(s) missing", "unit min", "item 'A1'",
                 "pairs.complete", "speed_kmh", "only_listed"):
        assert part in text, (part, text)


def test_partial_minutes_table_only_listed_needs_no_rule(tmp_path: Path) -> None:
    s = load_scenario(_scenario(tmp_path / "s", {"unit": "min", "only_listed": True},
                                minutes_table(drop=2)))
    assert not s.allowed()[0, :2].any()
    e = evaluate(s, np.array([2, 2, 1, 1, 1, 2, 2]))
    assert e.metrics["pairs_completed"] == 0


def test_max_distance_km_with_minutes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        _minutes(tmp_path, {"balance": [{"attribute": "workload", "tolerance": 0.3}],
                            "max_distance_km": 100})
    text = str(info.value)
    assert "rules.max_distance_km" in text and "rules.max_distance " in text and "min" in text


def test_minutes_completion_needs_speed(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="speed_kmh"):
        load_scenario(_scenario(tmp_path / "s", {"unit": "min", "complete": {"detour": 1.3}},
                                minutes_table(drop=1)))


# --- pairs-from-matrix -----------------------------------------------------------------------

SECONDS = MINUTES * 60


def _osrm() -> dict[str, Any]:
    durations: list[list[float | None]] = SECONDS.tolist()
    durations[6][0] = None  # unreachable
    return {"code": "Ok", "durations": durations, "distances": (KM * 1000).tolist(),
            "sources": [{"location": [lon, lat]} for lat, lon in
                        zip(ACCOUNTS["lat"], ACCOUNTS["lon"], strict=True)],
            "destinations": [{"location": [lon, lat]} for lat, lon in
                             zip(REPS["home_lat"], REPS["home_lon"], strict=True)]}


def _valhalla(units: str = "kilometers") -> dict[str, Any]:
    per = KM_PER_MILE if units == "miles" else 1.0
    return {"units": units, "sources_to_targets": [
        [{"from_index": i, "to_index": k, "time": float(SECONDS[i, k]),
          "distance": float(KM[i, k] / per)} for k in range(3)] for i in range(7)]}


def _matrix_cli(tmp_path: Path, data: Any, *args: str) -> tuple[Any, Path]:
    folder = tmp_path / "s"
    folder.mkdir(exist_ok=True)
    # The scenario already names the pair table the command is about to write.
    write_scenario(folder, {"pairs": {"path": "pairs.csv", "distance": "minutes",
                                      "unit": "min"}})
    matrix = folder / "matrix.json"
    matrix.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    out = folder / "pairs.csv"
    result = run_cli("pairs-from-matrix", matrix, "--scenario", folder / "scenario.yaml",
                     "--out", out, *args, cwd=tmp_path, subprocess=False)
    return result, out


def test_osrm_durations_to_pair_table(tmp_path: Path) -> None:
    result, out = _matrix_cli(tmp_path, _osrm())
    assert result.code == 0, result.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["item", "territory", "minutes"]
    assert len(frame) == 20  # 21 pairs, one unreachable
    assert not ((frame["item"] == "A7") & (frame["territory"] == "R1")).any()
    got = frame.set_index(["item", "territory"])["minutes"]
    assert got[("A1", "R2")] == pytest.approx(MINUTES[0, 1])
    assert "OSRM" in result.stdout and "1 unreachable" in result.stdout
    assert "unit: min" in result.stdout and "only_listed: true" in result.stdout


def test_osrm_distances_to_pair_table(tmp_path: Path) -> None:
    result, out = _matrix_cli(tmp_path, _osrm(), "--measure", "distance")
    assert result.code == 0, result.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["item", "territory", "km"] and len(frame) == 21
    np.testing.assert_allclose(frame["km"].to_numpy().reshape(7, 3), KM, atol=1e-3)


@pytest.mark.parametrize("units", ["kilometers", "miles"])
def test_valhalla_to_pair_table(tmp_path: Path, units: str) -> None:
    result, out = _matrix_cli(tmp_path, _valhalla(units))
    assert result.code == 0, result.stderr
    frame = pd.read_csv(out)
    np.testing.assert_allclose(frame["minutes"].to_numpy().reshape(7, 3), MINUTES, atol=1e-3)
    assert "Valhalla" in result.stdout
    (out.parent / "km.csv").unlink(missing_ok=True)
    result = run_cli("pairs-from-matrix", out.parent / "matrix.json", "--scenario",
                     out.parent / "scenario.yaml", "--out", out.parent / "km.csv", "--measure",
                     "distance", cwd=tmp_path, subprocess=False)
    assert result.code == 0, result.stderr
    km = pd.read_csv(out.parent / "km.csv")["km"].to_numpy().reshape(7, 3)
    np.testing.assert_allclose(km, KM, atol=1e-3)


def test_written_pair_table_loads(tmp_path: Path) -> None:
    data = _osrm()
    data["durations"][6][0] = SECONDS[6, 0]
    result, out = _matrix_cli(tmp_path, data)
    assert result.code == 0, result.stderr
    s = load_scenario(out.parent / "scenario.yaml")
    np.testing.assert_allclose(s.distance_block(slice(None)), MINUTES, atol=1e-3)


def test_sources_and_destinations_lists(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "src.csv").write_text("id\nA2\nA5\n", encoding="utf-8")
    (folder / "dst.csv").write_text("id\nR3\n", encoding="utf-8")
    data = {"code": "Ok", "durations": [[600.0], [1200.0]]}
    result, out = _matrix_cli(tmp_path, data, "--sources", str(folder / "src.csv"),
                              "--destinations", str(folder / "dst.csv"))
    assert result.code == 0, result.stderr
    frame = pd.read_csv(out)
    assert frame.values.tolist() == [["A2", "R3", 10.0], ["A5", "R3", 20.0]]


@pytest.mark.parametrize(("data", "expected"), [
    ({"code": "Ok", "durations": SECONDS[:6].tolist()}, "6 rows (sources), but 7 items"),
    ({"code": "Ok", "durations": SECONDS[:, :2].tolist()},
     "row 0 has 2 columns (destinations), but there are 3 territories"),
    ("not json {", "is not JSON"),
    ({"rows": []}, "expected an OSRM /table response"),
    ({"code": "NoTable", "message": "bad coordinates"}, "code 'NoTable' (bad coordinates)"),
    ({"code": "Ok", "distances": []}, "has no 'durations'"),
    ({"code": "Ok", "durations": [[-1, 0, 0]] * 7}, "entry [0][0] is -1"),
])
def test_bad_matrix_exits_2(tmp_path: Path, data: Any, expected: str) -> None:
    result, out = _matrix_cli(tmp_path, data)
    assert result.code == 2, (result.code, result.stderr)
    assert expected in result.stderr.replace("\n", " "), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
