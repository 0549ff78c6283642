"""KPI evaluator on hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from territory_opt import evaluate, load_scenario
from territory_opt.kpi.evaluate import gini
from territory_opt.scenario.model import Scenario


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "lat": [0.0, 0.0, 0.0, 0.0],
        "lon": [0.0, 1.0, 2.0, 3.0],
        "work": [10.0, 20.0, 30.0, 40.0],
        "cur": ["T1", "T1", "T2", ""],
    }).to_csv(tmp_path / "items.csv", index=False)
    pd.DataFrame({"id": ["T1", "T2"], "lat": [0.0, None], "lon": [0.0, None],
                  "fte": [1.0, 1.0], "cap": [35.0, 100.0]}).to_csv(tmp_path / "t.csv",
                                                                  index=False)
    spec = {
        "model": "alignment",
        "items": {"path": "items.csv", "latitude": "lat", "longitude": "lon",
                  "attributes": ["work"], "current": "cur"},
        "territories": {"path": "t.csv", "home_latitude": "lat", "home_longitude": "lon",
                        "fte": "fte", "capacity": {"work": "cap"}},
        "rules": {"balance": [{"attribute": "work", "tolerance": 0.1, "hard": False,
                               "penalty": 2.0}],
                  "locks": {"c": "T2"}, "disruption": {"attribute": "work", "max_share": 0.1}},
        "objective": {"travel": {"weight": 0.5, "attribute": "work"},
                      "disruption": {"weight": 3.0, "per": "items"}},
    }
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(spec))
    return load_scenario(tmp_path / "scenario.yaml")


def test_territory_table_and_objective(scenario: Scenario) -> None:
    e = evaluate(scenario, np.array([0, 1, 1, 0]))
    t = e.territories.set_index("territory")
    assert list(t["items"]) == [2, 2]
    assert list(t["work"]) == [50.0, 50.0]
    assert list(t["work_dev_pct"]) == [0.0, 0.0]
    km_d = 3 * 111.19508
    assert t.loc["T1", "km_max"] == pytest.approx(km_d, rel=1e-5)
    assert t.loc["T1", "travel"] == pytest.approx(40 * km_d, rel=1e-5)
    assert np.isnan(t.loc["T2", "travel"])  # no home: travel is "n/a", not 0
    assert t.loc["T1", "work_capacity_use_pct"] == pytest.approx(100 * 50 / 35)
    # Moves: b (T1 -> T2); d has no current territory, so it never counts as moved.
    assert e.metrics["moved_items"] == 1
    assert e.metrics["moved_share_work"] == pytest.approx(0.2)
    assert e.objective.travel == pytest.approx(0.5 * 40 * km_d, rel=1e-5)
    assert e.objective.disruption == 3.0
    assert e.objective.balance_penalty == 0.0


def test_violations_name_rule_place_and_amount(scenario: Scenario) -> None:
    e = evaluate(scenario, np.array([0, 0, 0, -1]))  # c breaks its lock, d unassigned
    text = [str(v) for v in e.violations]
    assert any("lock" in v and "item c" in v for v in text)
    assert any("item d" in v and "not assigned" in v for v in text)
    assert any("capacity work" in v and "territory T1" in v and "60.00" in v for v in text)
    soft = [v for v in e.violations if not v.hard]
    assert [v.where for v in soft] == ["territory T1", "territory T2"]
    # T1 load 60 vs band [45, 55]: 5 over; T2 load 0: 45 short. Penalty 2 per unit.
    assert e.objective.balance_penalty == pytest.approx(2.0 * (5 + 45))
    assert any("disruption cap" in v and "30.00%" in v for v in text)  # c moved: 30 of 100
    assert not e.feasible


def test_cv_and_gini_on_fte_normalised_loads(scenario: Scenario) -> None:
    e = evaluate(scenario, np.array([0, 0, 1, 1]))  # loads 30 and 70
    assert e.metrics["work_cv"] == pytest.approx(20 / 50)
    assert e.metrics["work_gini"] == pytest.approx(gini(np.array([30.0, 70.0])))
    assert e.metrics["work_max_abs_dev_pct"] == pytest.approx(40.0)


def test_gini() -> None:
    assert gini(np.array([5.0, 5.0, 5.0])) == 0.0
    assert gini(np.array([0.0, 0.0, 9.0])) == pytest.approx(2 / 3)
