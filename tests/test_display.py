"""Jupyter rendering (``_repr_html_``) and the one-call DataFrame views of Scenario, Evaluation,
Plan and Comparison: well-formed, escaped HTML with the expected pieces, long tables cut."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import TinyScenario
from territory_opt import Plan, compare, evaluate, load_scenario
from territory_opt.backends.contract import Status
from territory_opt.kpi.metrics import metric
from territory_opt.present import notebook as display_module
from territory_opt.present.notebook import MAX_ROWS, digits_for, frame_html, kpi_text
from territory_opt.scenario.model import Scenario
from territory_opt.text import fmt

BOLD_NAME = "Ann <b>Bold</b> & Co"


def named(tiny: TinyScenario, *, capacity: bool = False) -> Scenario:
    """The tiny scenario with rep names (one holding markup), a name with markup, and
    optionally a workload capacity per rep."""
    tiny.spec["name"] = "tiny <i>"
    tiny.spec["territories"]["name"] = "name"
    for rep, name in zip(tiny.reps, [BOLD_NAME, "Bo", "Cy"], strict=True):
        rep["name"] = name
    if capacity:
        tiny.spec["territories"]["capacity"] = {"workload": "cap"}
        for rep in tiny.reps:
            rep["cap"] = 100
    return load_scenario(tiny.write())


def many_reps(tiny: TinyScenario, n: int) -> Scenario:
    """The tiny scenario with ``n`` reps: most get no account, so the balance band breaks."""
    tiny.reps = [{"rep_id": f"R{k + 1}", "home_lat": 35.0 + k / 100, "home_lon": -80.0,
                  "fte": 1, "skills": "smb;enterprise"} for k in range(n)]
    return load_scenario(tiny.write())


def parse(html: str) -> ET.Element:
    """The HTML as an XML tree: fails unless it is well-formed with a single root."""
    root = ET.fromstring(html)
    assert root.tag == "div"
    return root


def tables(root: ET.Element) -> list[list[list[str]]]:
    """Every table's rows (header included) as cell texts."""
    return [[["".join(c.itertext()) for c in row] for row in table.iter("tr")]
            for table in root.iter("table")]


def texts(root: ET.Element) -> str:
    return "".join(root.itertext())


def kpi_rows(root: ET.Element) -> dict[str, list[str]]:
    """The KPI table (header starting with 'kpi') as name -> cell texts."""
    table = next(t for t in tables(root) if t[0][0] == "kpi")
    return {row[0]: row[1:] for row in table[1:]}


def plan_of(scenario: Scenario, assignment: np.ndarray, **kwargs: Any) -> Plan:
    defaults: dict[str, Any] = {"status": Status.FEASIBLE, "bound": 100.0, "backend": "highs",
                                "options": {"seed": 3}, "stop_reason": "time limit"}
    return Plan(scenario=scenario, assignment=assignment, **(defaults | kwargs))


# --- Scenario ---------------------------------------------------------------------------------


def test_scenario_html_summarises_and_escapes(tiny: TinyScenario) -> None:
    scenario = named(tiny, capacity=True)
    html = scenario._repr_html_()
    root = parse(html)
    text = texts(root)
    assert "Scenario tiny <i>" in text and "<i>" not in html  # escaped in the markup
    summary = {row[0]: row[1] for row in tables(root)[0]}
    assert summary["model"] == "alignment"
    assert summary["items"] == "8"
    assert summary["territories"].startswith("3 ")
    assert "workload 72.0" in summary["attributes (totals)"]
    assert summary["balance"] == "workload ±20% (hard)"
    assert summary["eligibility"] == "segment"
    assert summary["locks"] == "0"
    assert summary["disruption cap"] == "none"
    assert summary["capacities"] == "workload"
    assert "disruption × 10" in summary["objective"]
    assert summary["solver"].startswith("highs, time limit 10 s")
    items = tables(root)[1]
    assert items[0][:3] == ["item", "lat", "lon"]
    assert [row[0] for row in items[1:]] == [a["id"] for a in tiny.accounts]


def test_scenario_territories_frame(tiny: TinyScenario) -> None:
    scenario = named(tiny, capacity=True)
    frame = scenario.territories_frame()
    assert list(frame.columns) == ["territory", "name", "fte", "home_lat", "home_lon", "skills",
                                   "workload_capacity"]
    assert frame["territory"].tolist() == ["R1", "R2", "R3"]
    assert frame["name"].tolist()[0] == BOLD_NAME
    assert frame["skills"].tolist()[0] == "enterprise;smb"
    assert frame["workload_capacity"].tolist() == [100, 100, 100]
    assert frame["home_lat"].iloc[0] == pytest.approx(35.2271)


def test_items_frame_has_one_row_per_item(tiny: TinyScenario) -> None:
    frame = named(tiny).items_frame()
    assert len(frame) == len(tiny.accounts)
    assert {"item", "lat", "lon", "potential", "workload", "segment", "current",
            "lock"} <= set(frame.columns)


# --- Evaluation -------------------------------------------------------------------------------


def test_evaluation_html_kpis_and_territories(tiny: TinyScenario) -> None:
    scenario = named(tiny)
    evaluation = evaluate(scenario, scenario.current)
    html = evaluation._repr_html_()
    root = parse(html)
    kpis = kpi_rows(root)
    # rows titled by the metric registry's labels, in the evaluation's order
    assert list(kpis) == [metric(key).label for key in evaluation.metrics]
    assert kpis["travel"] == [fmt(evaluation.metrics["travel"], 1)]
    assert kpis["workload CV"] == [fmt(evaluation.metrics["workload_cv"], 4)]
    assert kpis["items"] == ["8"]
    territories = next(t for t in tables(root) if t[0][0] == "territory")
    assert [row[0] for row in territories[1:]] == ["R1", "R2", "R3"]
    assert territories[1][1] == BOLD_NAME  # shown as text ...
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html and "<b>" not in html  # ... escaped
    assert not any(t[0][0] == "rule" for t in tables(root))  # the current keeps every rule


def test_evaluation_html_lists_violations_and_cuts_long_tables(tiny: TinyScenario) -> None:
    scenario = many_reps(tiny, MAX_ROWS + 10)
    evaluation = evaluate(scenario, scenario.current)
    violations = len(evaluation.violations)
    assert violations > MAX_ROWS
    root = parse(evaluation._repr_html_())
    text = texts(root)
    territories = next(t for t in tables(root) if t[0][0] == "territory")
    assert len(territories) == 1 + MAX_ROWS
    assert "… 10 more rows" in text
    listed = next(t for t in tables(root) if t[0][0] == "rule")
    assert len(listed) == 1 + MAX_ROWS
    assert f"… {violations - MAX_ROWS} more violations" in text
    assert f"violations: {violations} hard, 0 soft" in text


def test_evaluation_metrics_frame(tiny: TinyScenario) -> None:
    scenario = named(tiny)
    evaluation = evaluate(scenario, scenario.current)
    frame = evaluation.metrics_frame()
    assert list(frame.columns) == ["kpi", "value"]
    assert frame["kpi"].tolist() == list(evaluation.metrics)
    assert frame["value"].tolist() == pytest.approx(list(evaluation.metrics.values()))


# --- Plan -------------------------------------------------------------------------------------


def test_plan_html_header_and_evaluation(tiny: TinyScenario) -> None:
    scenario = named(tiny)
    plan = plan_of(scenario, scenario.current.copy())
    root = parse(plan._repr_html_())
    header = {row[0]: row[1] for row in tables(root)[0]}
    assert header["scenario"] == "tiny <i>"
    assert header["status"] == "feasible (time limit)"
    assert header["backend"] == "highs"
    assert header["objective"] == fmt(plan.objective, 1)
    assert header["bound"] == "100.0"
    assert header["gap"] == f"{plan.gap:.3%}"
    assert header["seed"] == "3"
    assert kpi_rows(root)["objective"] == [kpi_text("objective", plan.objective)]
    territories = next(t for t in tables(root) if t[0][0] == "territory")
    assert [row[0] for row in territories[1:]] == ["R1", "R2", "R3"]


def test_plan_html_without_bound(tiny: TinyScenario) -> None:
    scenario = named(tiny)
    plan = plan_of(scenario, scenario.current.copy(), bound=float("-inf"))
    header = {row[0]: row[1] for row in tables(parse(plan._repr_html_()))[0]}
    assert (header["bound"], header["gap"]) == ("none", "n/a")


def test_plan_territories_frame_is_a_copy_of_the_evaluation_table(tiny: TinyScenario) -> None:
    scenario = named(tiny)
    plan = plan_of(scenario, scenario.current.copy())
    frame = plan.territories_frame()
    pd.testing.assert_frame_equal(frame, plan.evaluation.territories)
    assert len(frame) == scenario.n_territories
    frame.loc[0, "items"] = -1
    assert plan.evaluation.territories.loc[0, "items"] != -1


# --- Comparison -------------------------------------------------------------------------------


def test_comparison_html_kpis_side_by_side_and_moves(tiny: TinyScenario,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = named(tiny)
    other = scenario.current.copy()
    other[[0, 1, 3, 4, 6]] = [1, 1, 0, 0, 1]  # A1, A2 → R2; A4, A5 → R1; A7 → R2
    comparison = compare(scenario, {"current": scenario.current, "plan": other})
    root = parse(comparison._repr_html_())
    kpis = next(t for t in tables(root) if t[0][0] == "kpi")
    assert kpis[0] == ["kpi", "current", "plan"]
    rows = {row[0]: row[1:] for row in kpis[1:]}
    assert rows["moved items"] == ["0", "5"]
    assert rows["travel"] == [fmt(e.metrics["travel"], 1)
                              for e in comparison.evaluations.values()]
    moves = next(t for t in tables(root) if t[0][0] == "plan")
    assert sorted(row[1] for row in moves[1:]) == ["A1", "A2", "A4", "A5", "A7"]
    assert "moves from current (plan: 5)" in texts(root)

    monkeypatch.setattr(display_module, "MOVE_ROWS", 2)
    root = parse(comparison._repr_html_())
    moves = next(t for t in tables(root) if t[0][0] == "plan")
    assert len(moves) == 1 + 2
    assert "… 3 more moves" in texts(root)


def test_comparison_moves_frame_is_the_moves_attribute(tiny: TinyScenario) -> None:
    scenario = named(tiny)
    other = scenario.current.copy()
    other[0] = 1
    moves = compare(scenario, {"current": scenario.current, "plan": other}).moves
    assert moves[["plan", "item", "from", "to"]].values.tolist() == [["plan", "A1", "R1", "R2"]]


# --- helpers ----------------------------------------------------------------------------------


def test_frame_html_cuts_escapes_and_formats() -> None:
    frame = pd.DataFrame({"name": ["<x>"] * 100, "km_mean": np.arange(100) + 0.25,
                          "items": np.arange(100), "moved": [True] * 100})
    root = parse("<div>" + frame_html(frame, max_rows=30) + "</div>")
    (table,) = tables(root)
    assert len(table) == 1 + 30
    assert table[1] == ["<x>", "0.2", "0", "yes"]
    assert "… 70 more rows" in texts(root)


def test_digits_follow_the_metric_registry() -> None:
    assert digits_for("potential_cv") == 4
    assert digits_for("moved_share_items") == 4
    assert digits_for("workload_dev_pct") == 1  # every percentage: one decimal, everywhere
    assert digits_for("hard_violations") == 0
    assert kpi_text("quota_at_floor", 3.0) == "3"  # an unknown whole KPI is a count
    assert kpi_text("travel", 1234.56) == "1,234.6"
    assert kpi_text("km_mean", float("nan")) == "n/a"
