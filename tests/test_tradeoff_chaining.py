"""Chained trade-off points: never worse than the point solved on its own; failures say why.

A sweep used to warm-start each point from the previous point's plan, and the engine then
skipped the point's own construction: on the demo, the 0.35, 0.5 and 1.0 disruption caps kept the
0.3 cap's plan (212,926) where each solved alone gave 202,832.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import TinyScenario, run_cli
from territory_opt import load_scenario
from territory_opt.backends.contract import Capabilities, SolveOptions, SolveResult, Status
from territory_opt.backends.linear import LinearModel
from territory_opt.errors import NoPlanFoundError
from territory_opt.scenario.model import Scenario
from territory_opt.studies import tradeoff as tradeoff_module
from territory_opt.studies.tradeoff import TradeoffCurve, TradeoffPoint, tradeoff

CAP = "rules.disruption.max_share"
CAPS = [0.1, 0.2, 0.3, 0.5, 1.0]
"""Ten accounts: caps of 1, 2, 3, 5 and 10 moves."""


class StartOnly:
    """A backend that returns its warm start unchanged: a solver out of time before it leaves
    its start, as HiGHS was on the demo — deterministically."""

    name = "start-only"
    capabilities = Capabilities(bound=False, live_progress=False, stop=False)

    def available(self) -> bool:
        """Always: it needs no solver."""
        return True

    def solve(self, model: LinearModel, options: SolveOptions) -> SolveResult:
        """The warm start as the plan (no plan without one)."""
        if options.warm_start is None:
            return SolveResult(Status.NO_PLAN, None, math.inf, -math.inf, 0.0)
        x = np.asarray(options.warm_start, dtype=float)
        return SolveResult(Status.FEASIBLE, x, model.objective(x), -math.inf, 0.0,
                           stop_reason="time limit")


def _scenario(tiny: TinyScenario) -> Scenario:
    """Tiny with two more accounts and every account at a far rep: each extra move saves
    travel, so every cap up to 0.5 binds and the optimum falls as the cap loosens."""
    tiny.accounts += [
        {"id": "A9", "lat": 35.25, "lon": -80.80, "potential": 50, "workload": 6,
         "segment": "smb", "current_rep": "R2", "lock": ""},
        {"id": "A10", "lat": 35.78, "lon": -78.70, "potential": 50, "workload": 6,
         "segment": "smb", "current_rep": "R1", "lock": ""},
    ]
    # A Charlotte account with Raleigh's rep and the other way round, Greensboro with
    # Charlotte: swaps that save hundreds of km each and keep the ±20% workload band.
    for item, rep in (("A1", "R2"), ("A3", "R1"), ("A6", "R1"), ("A2", "R3")):
        tiny.account(item)["current_rep"] = rep
    tiny.spec["rules"]["balance"] = [{"attribute": "workload", "tolerance": 0.3}]
    return load_scenario(tiny.write())


def _objectives(curve: TradeoffCurve) -> dict[float, float]:
    return {p.value: p.objective for p in curve.points}


def _assert_same(chained: TradeoffCurve, alone: TradeoffCurve) -> None:
    for mine, own in zip(chained.points, alone.points, strict=True):
        assert mine.value == own.value
        assert mine.objective == pytest.approx(own.objective, rel=1e-6), (
            f"{CAP}={mine.value:g}: chained {mine.objective:,.4f}, alone {own.objective:,.4f}")


def test_chained_points_equal_their_own_optimal_solves(tiny: TinyScenario) -> None:
    s = _scenario(tiny)
    options = {"backend": "highs", "gap": 0.0, "time_limit": 30.0, "seed": 0}
    chained = tradeoff(s, CAP, CAPS, chain=True, **options)
    alone = tradeoff(s, CAP, CAPS, chain=False, **options)
    assert all(p.status == "optimal" for p in alone.points), alone.frame()
    _assert_same(chained, alone)
    objectives = list(_objectives(alone).values())
    assert objectives == sorted(objectives, reverse=True) and objectives[0] > objectives[-1]


def test_a_solver_stuck_at_the_previous_plan_cannot_hold_a_point_back(tiny: TinyScenario
                                                                       ) -> None:
    # The old chaining handed the previous plan to the backend in place of the point's own
    # construction; a backend that cannot leave its start then kept the tighter cap's plan.
    s = _scenario(tiny)
    options = {"backend": StartOnly(), "gap": 0.0, "time_limit": 30.0, "seed": 0}
    chained = tradeoff(s, CAP, CAPS, chain=True, **options)
    alone = tradeoff(s, CAP, CAPS, chain=False, **options)
    _assert_same(chained, alone)
    optimal = tradeoff(s, CAP, CAPS, chain=False, backend="highs", gap=0.0, time_limit=30.0)
    # The construction alone reaches each optimum here, so the chained curve does too.
    _assert_same(chained, optimal)
    assert chained.monotone_violations() == []


def test_same_seed_same_curve(tiny: TinyScenario) -> None:
    s = _scenario(tiny)
    runs = [tradeoff(s, CAP, CAPS, backend="highs", gap=0.0, work_limit=50, seed=3)
            for _ in range(2)]
    first, second = (r.frame() for r in runs)
    assert list(first["objective"]) == list(second["objective"])
    assert list(first["kept_previous"]) == list(second["kept_previous"])
    assert [p.plan.assignment.tolist() for p in runs[0].points if p.plan] == [
        p.plan.assignment.tolist() for p in runs[1].points if p.plan]


def test_an_infeasible_point_prints_its_reason(tiny: TinyScenario) -> None:
    # ±0% workload: 24 hours each needs two moves at least, so a cap of 0 is infeasible.
    tiny.spec["rules"]["balance"] = [{"attribute": "workload", "tolerance": 0.0}]
    tiny.account("A2")["current_rep"] = "R2"
    yaml_path = tiny.write()
    result = run_cli("tradeoff", yaml_path, "--rule", CAP, "--values", "0,1", "--time-limit",
                     "20", "--backend", "highs", "--out", tiny.root / "curve", cwd=tiny.root)
    assert result.code == 0, result.output
    line = next(x for x in result.stderr.splitlines() if x.startswith(f"{CAP}=0:"))
    assert "infeasible: " in line and line.split("infeasible: ", 1)[1].strip(), line
    assert "disruption" in line, line


def test_a_point_without_a_plan_prints_why(tiny: TinyScenario,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = tradeoff_module.solve
    why = "highs found no plan within 0.01 s (120 variables, 40 rows). Try a longer --time-limit"

    def solve(variant: Scenario, **options: object) -> object:
        rules = variant.spec.rules.disruption
        if rules is not None and rules.max_share < 0.5:
            raise NoPlanFoundError(why)
        return real(variant, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(tradeoff_module, "solve", solve)
    lines: list[str] = []
    curve = tradeoff(load_scenario(tiny.write()), CAP, [0.25, 1.0], time_limit=20,
                     progress=lambda p: lines.append(f"{p.status}: {p.reason}"))
    first = curve.points[0]
    assert first.plan is None and first.status == "no plan"
    assert first.reason == why and lines[0] == f"no plan: {why}"
    assert curve.points[1].plan is not None and curve.points[1].reason == ""


def test_reason_of_an_infeasible_message_is_its_first_conflict() -> None:
    message = ("the scenario is infeasible: no plan meets every hard rule.\n"
               "  - disruption cap (items ≤ 0.0%): short by 2 items\n  - balance: other")
    point = TradeoffPoint(0.0, None, status="infeasible", message=message)
    assert point.reason == "disruption cap (items ≤ 0.0%): short by 2 items"
    assert TradeoffPoint(0.0, None, status="no plan").reason == "no plan"

