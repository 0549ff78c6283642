"""The alignment engine's parts: local search, the auto choice, the anytime record.

Local search is checked against brute force on the tiny scenarios of ``cases.py`` (together they
cover every rule): from every feasible plan it returns a feasible plan, never a worse one, with
the evaluator's objective; from the optimum it finds nothing to change.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cases import VARIANTS, write_scenario
from territory_opt import evaluate, load_scenario, solve
from territory_opt.alignment.choice import CROSSOVERS, choose
from territory_opt.alignment.formulation import build_alignment
from territory_opt.alignment.local_search import local_search
from territory_opt.alignment.pairs import all_pairs
from territory_opt.deadline import Deadline
from territory_opt.scenario.model import Scenario
from territory_opt.settings import SolveSettings
from variant_optima import VARIANT_OPTIMA


def _feasible_plans(scenario: Scenario) -> list[tuple[np.ndarray, float]]:
    """Every plan of a tiny scenario that keeps the hard rules, with its objective: the model's
    rows screen all of them (fast), the KPI evaluator confirms the ones that pass."""
    model = build_alignment(scenario, all_pairs(scenario))
    linear = model.linear
    out = []
    for combo in itertools.product(range(scenario.n_territories), repeat=scenario.n_items):
        assignment = np.array(combo, dtype=np.int64)
        x = model.start_vector(assignment)
        if (model.assignment(x) != assignment).any():
            continue  # a pair the model does not offer (a lock, eligibility, distance)
        activity = linear.a @ x
        if not ((activity >= linear.row_lo - 1e-6) & (activity <= linear.row_hi + 1e-6)).all():
            continue
        check = evaluate(scenario, assignment)
        assert check.feasible, "the model's rows and the evaluator agree"
        out.append((assignment, check.objective.total))
    return out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_local_search_keeps_every_rule_and_never_worsens(tmp_path: Path, variant: str) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS[variant]))
    model = build_alignment(scenario, all_pairs(scenario))
    plans = _feasible_plans(scenario)
    assert plans, "the variant has feasible plans"
    improved = 0
    for assignment, objective in plans:
        found = local_search(model, assignment, Deadline(30))
        check = evaluate(scenario, found.assignment)
        assert check.feasible, [str(v) for v in check.violations]
        assert check.objective.total == pytest.approx(found.objective, rel=1e-9, abs=1e-9)
        assert found.objective <= objective + 1e-9
        assert found.objective >= VARIANT_OPTIMA[variant] - 1e-6
        improved += found.objective < objective - 1e-9
    assert improved > 0, "some feasible plan of each variant is improved by a move or swap"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_local_search_leaves_the_optimum_alone(tmp_path: Path, variant: str) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS[variant]))
    model = build_alignment(scenario, all_pairs(scenario))
    optimum = solve(scenario, backend="highs", gap=0.0, time_limit=10, seed=0)
    assert optimum.objective == pytest.approx(VARIANT_OPTIMA[variant])
    found = local_search(model, optimum.assignment, Deadline(30))
    assert found.moves == found.swaps == 0
    assert found.objective == pytest.approx(VARIANT_OPTIMA[variant])


def test_local_search_returns_a_plan_breaking_a_rule_unchanged(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS["balance only"]))
    model = build_alignment(scenario, all_pairs(scenario))
    everything_to_one = np.zeros(scenario.n_items, dtype=np.int64)  # breaks the workload band
    assert not evaluate(scenario, everything_to_one).feasible
    found = local_search(model, everything_to_one, Deadline(30))
    assert np.array_equal(found.assignment, everything_to_one)
    assert found.moves == found.swaps == 0


class _Sized:
    """Just the size of a scenario and no rule only some paths honour (all ``choose`` reads)."""

    groups = None
    spec = SimpleNamespace(objective=SimpleNamespace(priorities=None))  # no priorities

    def __init__(self, n_items: int, n_territories: int) -> None:
        self.n_items, self.n_territories = n_items, n_territories


@pytest.mark.parametrize(("items", "territories", "limit", "method"), [
    (200, 10, 10.0, "heuristic"),
    (1_000, 20, 5.0, "heuristic"),
    (1_000, 20, 30.0, "highs"),
    (1_000, 20, 120.0, "highs"),
    (5_000, 50, 10.0, "heuristic"),
    (5_000, 50, 600.0, "heuristic"),
    (100_000, 500, 120.0, "heuristic"),
])
def test_auto_chooses_by_the_measured_table(items: int, territories: int, limit: float,
                                            method: str) -> None:
    sized = _Sized(items, territories)
    choice = choose(sized, SolveSettings(time_limit=limit))  # type: ignore[arg-type]
    assert choice.method == method
    assert f"{items * territories:,}" in choice.why and "measured" in choice.why
    assert choice.as_dict() == {"asked": "auto", "method": method, "why": choice.why}


def test_auto_choice_depends_on_the_settings_not_the_clock() -> None:
    sized = _Sized(1_000, 20)
    # A work limit is not a race against the clock: the long-limit row.
    worked = choose(sized, SolveSettings(time_limit=5.0, work_limit=1e4))  # type: ignore[arg-type]
    assert worked.method == "highs" and "work limit" in worked.why
    assert math.isinf(CROSSOVERS[-1].max_pairs) and math.isinf(CROSSOVERS[-1].below_seconds)


def test_plan_json_says_what_auto_chose_and_the_anytime_curve(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS["balance only"]))
    plan = solve(scenario, time_limit=5, seed=0)  # the scenario's backend: auto, by default
    assert plan.choice is not None and plan.choice["asked"] == "auto"
    assert plan.backend == plan.choice["method"]
    shares = [point["share"] for point in plan.anytime]
    assert shares == [0.25, 0.5, 1.0]
    assert plan.anytime[-1]["objective"] == pytest.approx(plan.objective)
    found = [p["objective"] for p in plan.anytime if p["objective"] is not None]
    assert found == sorted(found, reverse=True), "the best so far never gets worse"
    written = json.loads((plan.write(tmp_path / "plan") / "plan.json").read_text())
    assert written["choice"] == plan.choice
    assert [p["share"] for p in written["anytime"]] == shares


def test_an_explicit_backend_records_no_choice(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, VARIANTS["balance only"]))
    plan = solve(scenario, backend="highs", time_limit=5, seed=0)
    assert plan.choice is None and plan.backend == "highs"
