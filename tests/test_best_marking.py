"""Side-by-side KPI tables mark the best value per row among plans that keep every hard rule:
an alignment that breaks one (today's, often) is never shown as "best"."""

from __future__ import annotations

from pathlib import Path

from territory_opt import evaluate, load_scenario, solve
from territory_opt.present.terminal import metric_table

SMALL = Path(__file__).resolve().parents[1] / "scenarios" / "small" / "scenario.yaml"


def test_an_infeasible_alignment_is_never_bold() -> None:
    scenario = load_scenario(SMALL)
    today = evaluate(scenario, scenario.current)
    assert not today.feasible  # the small scenario's alignment breaks its bands
    plan = solve(scenario, time_limit=2)
    assert plan.evaluation.feasible
    table = metric_table(scenario, {"today": today, "plan": plan.evaluation})
    today_cells = list(table.columns[1].cells)
    plan_cells = list(table.columns[2].cells)
    assert not any("[bold]" in str(c) for c in today_cells)  # e.g. 0 moved: not "best"
    assert any("[bold]" in str(c) for c in plan_cells)
    assert "breaks a hard rule" in str(table.columns[1].header)
