"""The batch lead allocation against brute force on tiny cases, and its explanations."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leads_cases import lead_scenario
from territory_opt import evaluate, solve
from territory_opt.backends.base import Status
from territory_opt.errors import InfeasibleError
from territory_opt.scenario.model import Scenario


def random_case(folder: Path, seed: int, fairness: dict[str, Any] | None) -> Scenario:
    """5 leads (two weeks, two languages, two segments, one owned account) × 3 reps."""
    rng = np.random.default_rng(seed)
    leads = [{"segment": str(rng.choice(["SMB", "ENT"])),
              "language": str(rng.choice(["en", "es"])),
              "value": int(rng.integers(10, 1000)), "score": round(float(rng.uniform(0.2, 1)), 2),
              "account": "A1" if n == 0 else "",
              "created": "2026-07-01T10:00:00Z" if n < 3 else "2026-07-08T10:00:00Z"}
             for n in range(5)]
    reps = [{"skills": "en;es", "capacity": int(rng.integers(1, 4))},
            {"skills": "en", "capacity": int(rng.integers(1, 4))},
            {"skills": "es;en", "capacity": 2, "fte": 0.5}]
    rates = [{"rep": f"R{k + 1}", "segment": seg,
              "win_rate": round(float(rng.uniform(0.05, 0.6)), 2)}
             for k in range(3) for seg in ("SMB", "ENT")]
    section = {"fairness": fairness} if fairness is not None else {}
    return lead_scenario(folder, leads, reps, win_rates=rates,
                         owners=[{"account": "A1", "rep": f"R{seed % 3 + 1}"}],
                         leads_section=section)


def brute_force(scenario: Scenario) -> float:
    """The least objective over every assignment that breaks no hard rule (inf: none)."""
    best = float("inf")
    for labels in itertools.product(range(scenario.n_territories), repeat=scenario.n_items):
        evaluation = evaluate(scenario, np.array(labels))
        if evaluation.feasible:
            best = min(best, evaluation.objective.total)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fairness", [None, {"tolerance": 0.6},
                                      {"tolerance": 0.2, "hard": False, "penalty": 0.5}],
                         ids=["no-fairness", "hard-fairness", "soft-fairness"])
def test_batch_matches_brute_force(tmp_path: Path, seed: int,
                                   fairness: dict[str, Any] | None) -> None:
    scenario = random_case(tmp_path, seed, fairness)
    best = brute_force(scenario)
    if best == float("inf"):
        with pytest.raises(InfeasibleError):
            solve(scenario, backend="highs", time_limit=10)
        return
    plan = solve(scenario, backend="highs", time_limit=10)
    assert plan.status == Status.OPTIMAL
    assert plan.evaluation.feasible
    assert plan.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
    assert plan.bound <= plan.objective + 1e-6


@pytest.mark.parametrize("backend", ["cpsat", "cbc", "scip"])
def test_other_backends_reach_the_same_optimum(tmp_path: Path, backend: str) -> None:
    scenario = random_case(tmp_path, 1, {"tolerance": 0.6})
    reference = solve(scenario, backend="highs", time_limit=10).objective
    plan = solve(scenario, backend=backend, time_limit=10)
    assert plan.objective == pytest.approx(reference, rel=1e-6)


def test_nobody_eligible_is_explained(tmp_path: Path) -> None:
    scenario = lead_scenario(tmp_path, [{"language": "fr"}, {"language": "en"}],
                             [{"skills": "en"}])
    with pytest.raises(InfeasibleError) as info:
        solve(scenario, backend="highs")
    assert "L1" in str(info.value) and "language fr" in str(info.value)


def test_capacity_short_for_a_language_is_explained(tmp_path: Path) -> None:
    scenario = lead_scenario(tmp_path, [{"language": "es"}] * 3 + [{"language": "en"}],
                             [{"skills": "en;es", "capacity": 2}, {"skills": "en", "capacity": 5}])
    with pytest.raises(InfeasibleError) as info:
        solve(scenario, backend="highs")
    text = str(info.value)
    assert "3 leads like L1 (language es)" in text and "room for 2" in text


def test_owner_over_capacity_is_explained(tmp_path: Path) -> None:
    scenario = lead_scenario(tmp_path, [{"account": "A"}] * 3,
                             [{"skills": "", "capacity": 2}, {"skills": ""}],
                             owners=[{"account": "A", "rep": "R1"}])
    with pytest.raises(InfeasibleError) as info:
        solve(scenario, backend="highs")
    assert "rep R1 owns 3 leads" in str(info.value)


def test_hard_fairness_conflict_names_the_reps_and_amount(tmp_path: Path) -> None:
    # R2 may take no lead (no Spanish), so its share of expected value is 0: ±10% cannot hold.
    scenario = lead_scenario(tmp_path, [{"language": "es"}] * 4,
                             [{"skills": "es"}, {"skills": "en"}],
                             leads_section={"fairness": {"tolerance": 0.1}})
    with pytest.raises(InfeasibleError) as info:
        solve(scenario, backend="highs")
    text = str(info.value)
    assert "fairness ±10%" in text and "R2" in text and "outside the reps' bands" in text
