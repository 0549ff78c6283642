"""Named accounts inside districting units: placed in their unit, follow its territory unless
locked elsewhere, and counted with the units by the model and by every KPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from shapely.geometry import box

from territory_opt import evaluate, load_scenario, solve
from territory_opt.errors import ScenarioError
from territory_opt.plan import ACCOUNTS_FILE


def strip_scenario(folder: Path, accounts: list[dict[str, Any]],
                   columns: dict[str, Any] | None = None, **extra: Any) -> Path:
    """Units U0..U3, 0.1° squares in a row (rook: a path U0-U1-U2-U3), load 1 each, into two
    territories with equal load; ``accounts`` rows go to ``accounts.csv``, ``columns`` into
    the YAML's ``accounts`` section."""
    shapes = [box(-80 + 0.1 * c, 35, -80 + 0.1 * (c + 1), 35.1) for c in range(4)]
    units = gpd.GeoDataFrame({"unit": [f"U{c}" for c in range(4)], "load": [1, 1, 1, 1]},
                             geometry=shapes, crs="EPSG:4326")
    units.to_file(folder / "units.geojson", driver="GeoJSON")
    pd.DataFrame(accounts).to_csv(folder / "accounts.csv", index=False)
    table: dict[str, Any] = {"path": "accounts.csv", "id": "account", "attributes": ["load"]}
    table |= columns or {}
    spec = {"model": "districting",
            "items": {"path": "units.geojson", "id": "unit", "attributes": ["load"]},
            "territories": {"count": 2}, "adjacency": {"method": "rook"},
            "accounts": table,
            "rules": {"balance": [{"attribute": "load", "tolerance": 0.0}]},
            "objective": {"cut_edges": {}}, "solver": {"time_limit": 30}} | extra
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_accounts_are_placed_by_unit_column_or_by_point_in_polygon(tmp_path: Path) -> None:
    path = strip_scenario(tmp_path, [
        {"account": "A", "unit": "U2", "lat": 35.05, "lon": -79.95, "load": 2},
        {"account": "B", "unit": "", "lat": 35.05, "lon": -79.65, "load": 0},
    ], columns={"unit": None, "latitude": "lat", "longitude": "lon"})
    by_point = load_scenario(path).accounts
    assert by_point is not None
    assert by_point.unit.tolist() == [0, 3]  # (-79.95 lies in U0, -79.65 in U3)
    spec = yaml.safe_load(path.read_text())
    spec["accounts"] = {"path": "accounts.csv", "id": "account", "unit": "unit",
                        "attributes": ["load"]}
    spec["accounts"]["path"] = "by_unit.csv"
    pd.DataFrame({"account": ["A"], "unit": ["U2"], "load": [2]}).to_csv(
        tmp_path / "by_unit.csv", index=False)
    path.write_text(yaml.safe_dump(spec))
    by_unit = load_scenario(path).accounts
    assert by_unit is not None and by_unit.unit.tolist() == [2]


def test_model_balances_units_and_accounts_together(tmp_path: Path) -> None:
    # Loads 1,1,1,1 plus account A (2) in U0: total 6, target 3 each. Contiguous halves of a
    # path are intervals; only {U0} | {U1, U2, U3} puts 3 on each side.
    scenario = load_scenario(strip_scenario(tmp_path, [
        {"account": "A", "unit": "U0", "load": 2}], columns={"unit": "unit"}))
    for backend in ("highs", "heuristic"):
        plan = solve(scenario, backend=backend, time_limit=10)
        labels = plan.assignment
        assert labels[1] == labels[2] == labels[3] != labels[0], backend
        table = plan.evaluation.territories
        assert table["load"].tolist() == [3.0, 3.0]
        assert table["load_target"].tolist() == [3.0, 3.0]
        assert sorted(table["accounts"].tolist()) == [0, 1]
        assert plan.evaluation.feasible


def test_a_locked_account_stays_put_and_shifts_its_territorys_band(tmp_path: Path) -> None:
    # A (load 2) sits in U3 but is locked to T1: T1 needs one more unit of load, T2 three.
    scenario = load_scenario(strip_scenario(tmp_path, [
        {"account": "A", "unit": "U3", "lock": "T1", "load": 2}],
        columns={"unit": "unit", "lock": "lock"}))
    plan = solve(scenario, backend="highs", time_limit=10)
    assert np.bincount(plan.assignment, minlength=2).tolist() == [1, 3]
    assert plan.evaluation.territories["load"].tolist() == [3.0, 3.0]
    frame = plan.accounts_frame()
    assert frame is not None
    assert frame.to_dict("records") == [
        {"account": "A", "unit": "U3", "territory": "T1", "locked": True, "moved": False}]
    assert plan.evaluation.metrics["accounts"] == 1.0
    # A's unit went to T2 (T1 holds one end unit, U0 or U3; U3 would need T1 = {U3}).
    away = float(plan.assignment[3] != 0)
    assert plan.evaluation.metrics["accounts_locked_away"] == away


def test_unit_assignment_evaluated_with_accounts_by_hand(tmp_path: Path) -> None:
    scenario = load_scenario(strip_scenario(tmp_path, [
        {"account": "A", "unit": "U0", "current": "T2", "load": 2},
        {"account": "B", "unit": "U1", "current": "T1", "load": 5},
        {"account": "C", "unit": "U1", "current": "", "lock": "T2", "load": 4}],
        columns={"unit": "unit", "lock": "lock", "current": "current"}))
    # T1 = {U0, U1}: units 2 + A 2 + B 5 = 9; T2 = {U2, U3}: units 2 + C 4 = 6. Target 7.5.
    evaluation = evaluate(scenario, np.array([0, 0, 1, 1]))
    assert evaluation.territories["load"].tolist() == [9.0, 6.0]
    assert evaluation.territories["load_target"].tolist() == [7.5, 7.5]
    assert evaluation.territories["accounts"].tolist() == [2, 1]
    metrics = evaluation.metrics
    assert metrics["accounts_locked_away"] == 1.0  # C: its unit is in T1
    assert metrics["moved_accounts"] == 1.0  # A: T2 -> T1 (C has no current territory)
    assert metrics["moved_share_accounts"] == pytest.approx(0.5)
    assert not evaluation.feasible  # ±0% band: 9 and 6 against 7.5


def test_plan_directory_lists_the_accounts(tmp_path: Path) -> None:
    scenario = load_scenario(strip_scenario(tmp_path, [
        {"account": "A", "unit": "U0", "load": 2}], columns={"unit": "unit"}))
    out = solve(scenario, backend="highs", time_limit=10).write(tmp_path / "plan")
    written = pd.read_csv(out / ACCOUNTS_FILE, dtype=str)
    assert list(written.columns) == ["account", "unit", "territory", "locked", "moved"]
    assert written["account"].tolist() == ["A"]


def test_account_only_attribute_counts_in_kpis_and_rules(tmp_path: Path) -> None:
    path = strip_scenario(tmp_path, [{"account": "A", "unit": "U1", "load": 0, "revenue": 7}],
                          columns={"unit": "unit", "attributes": ["load", "revenue"]})
    scenario = load_scenario(path)
    assert scenario.attributes["revenue"].tolist() == [0.0] * 4
    table = evaluate(scenario, np.array([0, 0, 1, 1])).territories
    assert table["revenue"].tolist() == [7.0, 0.0]


def problems_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


def test_account_outside_every_unit_names_its_row_and_nearest_unit(tmp_path: Path) -> None:
    path = strip_scenario(tmp_path, [
        {"account": "A", "lat": 35.05, "lon": -79.95, "load": 1},
        {"account": "B", "lat": 36.5, "lon": -79.65, "load": 1}],
        columns={"latitude": "lat", "longitude": "lon"})
    text = problems_of(path)
    assert "accounts.csv, row 2 (line 3)" in text
    assert "outside every unit" in text and "'U3'" in text


def test_unknown_unit_and_lock_are_reported_by_row(tmp_path: Path) -> None:
    text = problems_of(strip_scenario(tmp_path, [
        {"account": "A", "unit": "U9", "lock": "", "load": 1},
        {"account": "B", "unit": "U1", "lock": "T7", "load": 1}],
        columns={"unit": "unit", "lock": "lock"}))
    assert "row 2" in text and "territory 'T7'" in text
    text = problems_of(strip_scenario(tmp_path, [{"account": "A", "unit": "U9", "load": 1}],
                                      columns={"unit": "unit"}))
    assert "row 1" in text and "unit 'U9', which is not in the items table" in text


def test_accounts_need_a_unit_or_a_location(tmp_path: Path) -> None:
    text = problems_of(strip_scenario(tmp_path, [{"account": "A", "load": 1}]))
    assert "accounts.unit" in text


def test_accounts_only_apply_to_districting(tmp_path: Path) -> None:
    path = strip_scenario(tmp_path, [{"account": "A", "unit": "U0", "load": 1}],
                          columns={"unit": "unit"})
    spec = yaml.safe_load(path.read_text())
    spec.update(model="alignment", territories={"path": "reps.csv"})
    for key in ("adjacency",):
        spec.pop(key)
    spec["objective"] = {}
    pd.DataFrame({"id": ["T1"]}).to_csv(tmp_path / "reps.csv", index=False)
    path.write_text(yaml.safe_dump(spec))
    assert "accounts only apply to model: districting" in problems_of(path)


def test_maps_mark_the_accounts(tmp_path: Path) -> None:
    from territory_opt.present.maps import write_maps

    scenario = load_scenario(strip_scenario(tmp_path, [
        {"account": "Acme</script>", "lat": 35.05, "lon": -79.95, "lock": "T2", "load": 0},
        {"account": "Beta", "lat": 35.05, "lon": -79.65, "lock": "", "load": 0}],
        columns={"latitude": "lat", "longitude": "lon", "lock": "lock"}))
    labels = np.array([0, 0, 1, 1])
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    write_maps(plan_dir, scenario, labels, evaluate(scenario, labels).territories)
    page = (plan_dir / "map.html").read_text()
    assert "named accounts" in page and "Beta" in page
    assert "Acme&lt;/script&gt;" in page and "Acme</script>" not in page
    assert (plan_dir / "map.png").stat().st_size > 10_000
