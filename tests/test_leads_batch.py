"""The batch lead allocation against brute force on tiny cases, and its explanations."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leads_cases import lead_scenario
from territory_opt import evaluate, solve
from territory_opt.backends.contract import Status
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


def mid_case(folder: Path, fairness: dict[str, Any] | None) -> Scenario:
    """60 leads × 6 reps over one week, capacity a little above the volume."""
    rng = np.random.default_rng(3)
    leads = [{"segment": str(rng.choice(["SMB", "ENT"])),
              "language": str(rng.choice(["en", "es"], p=[0.7, 0.3])),
              "value": int(rng.integers(10, 1000)),
              "score": round(float(rng.uniform(0.2, 1)), 2)} for _ in range(60)]
    reps = [{"skills": "en;es" if k % 3 == 0 else "en", "capacity": 12, "fte": 1 - 0.1 * k}
            for k in range(6)]
    rates = [{"rep": f"R{k + 1}", "segment": seg,
              "win_rate": round(float(rng.uniform(0.05, 0.6)), 2)}
             for k in range(6) for seg in ("SMB", "ENT")]
    section = {"fairness": fairness} if fairness is not None else {}
    return lead_scenario(folder, leads, reps, win_rates=rates, leads_section=section)


@pytest.mark.parametrize("fairness", [None, {"tolerance": 0.3, "hard": False, "penalty": 0.5}],
                         ids=["no-fairness", "soft-fairness"])
def test_large_path_matches_the_whole_mip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          fairness: dict[str, Any] | None) -> None:
    from territory_opt.leads import batch as batch_module
    from territory_opt.leads.batch import allocate

    scenario = mid_case(tmp_path, fairness)
    spec = scenario.spec.leads
    assert spec is not None
    whole = allocate(scenario, time_limit=30, fairness=spec.fairness)
    assert whole.status.has_plan  # within HiGHS's gap (absolute: the revenue at stake × 1e-4)
    monkeypatch.setattr(batch_module, "DIRECT_MIP_PAIRS", 0)  # force flow + LP + rounding
    large = allocate(scenario, time_limit=30, fairness=spec.fairness)
    assert large.status.has_plan
    # Both bounds hold for both plans (HiGHS stops the whole MIP within a 1e-4 gap).
    assert large.bound <= whole.objective + 1e-6 * abs(whole.objective)
    assert large.objective >= whole.bound - 1e-6 * abs(whole.bound)
    evaluation = evaluate(scenario, _full(large.assignment))
    assert evaluation.feasible
    assert evaluation.objective.total == pytest.approx(large.objective, rel=1e-6)
    if fairness is None:  # a transportation problem: the flow is optimal, the LP bound tight
        assert large.objective == pytest.approx(whole.objective, rel=1e-6)
        assert large.bound == pytest.approx(whole.objective, rel=1e-6)
    else:  # the rounding MIP re-decides the split leads and their reps' leads
        assert large.objective <= whole.objective + 1e-3 * abs(whole.objective)


def _full(assignment: np.ndarray) -> np.ndarray:
    return np.asarray(assignment, dtype=np.int64)


def test_large_path_proves_a_short_batch_infeasible(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from territory_opt.leads import batch as batch_module

    monkeypatch.setattr(batch_module, "DIRECT_MIP_PAIRS", 0)
    scenario = lead_scenario(tmp_path, [{"language": "en"}] * 5,
                             [{"skills": "en", "capacity": 2}, {"skills": "en", "capacity": 2}])
    result = batch_module.allocate(scenario, time_limit=10)
    assert result.status == Status.INFEASIBLE


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fairness", [None, {"tolerance": 0.6},
                                      {"tolerance": 0.2, "hard": False, "penalty": 0.5}],
                         ids=["no-fairness", "hard-fairness", "soft-fairness"])
def test_the_heuristic_path_is_valid_at_any_size(tmp_path: Path, seed: int,
                                                 fairness: dict[str, Any] | None) -> None:
    """``heuristic`` takes the large-batch path (flow, Lagrangian, column generation,
    rounding) even on a tiny batch; its plan is feasible, its bound valid, and it says so."""
    scenario = random_case(tmp_path, seed, fairness)
    best = brute_force(scenario)
    if best == float("inf"):
        with pytest.raises(InfeasibleError):
            solve(scenario, backend="heuristic", time_limit=10)
        return
    plan = solve(scenario, backend="heuristic", time_limit=10)
    assert plan.backend == "heuristic" and "flow" in plan.found_by
    assert plan.evaluation.feasible
    assert plan.bound <= best + 1e-6 and plan.objective >= best - 1e-6
