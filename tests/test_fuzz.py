"""Fuzz: every plan ``solve()`` returns on a random tiny alignment scenario is true.

Hypothesis draws small scenarios (:func:`fuzz_cases.cases`: 1-8 accounts, 1-3 reps, zeros, 1e-7
and 1e9 among the attribute values, hard and soft bands, locks, current territories and a
disruption cap, eligibility, capacity, a maximum distance, reps without a home), writes each to a
temporary folder, loads it with :func:`load_scenario` and solves it with every installed backend
(``time_limit=5, seed=0, gap=0``). Every assignment of these scenarios is enumerated
(:class:`fuzz_cases.Oracle`, at most 3^8 = 6,561), so each claim is checked against the truth:

1. ``solve`` raises nothing but the documented :class:`InfeasibleError` and
   :class:`NoPlanFoundError`, the latter only once the time limit has (at least half) passed
   (it is documented as "the time limit passed before any plan was found");
2. a plan whose status is optimal or feasible breaks no hard rule as the KPI evaluator sees it
   (soft bands may be broken); a plan with another status (``violates``) does break one;
3. after an :class:`InfeasibleError`, no assignment meets every hard rule, neither by the brute
   force with only rounding forgiven nor by the KPI evaluator within its documented slack; and
   its conflicts name only hard rules;
4. every plan's bound is at most the objective of every plan the evaluator accepts (its own
   included); an optimal plan is within ``1e-6 + OPTIMALITY_GAP`` (relative) of the best
   assignment that meets every hard rule ("optimal" means proven within ``OPTIMALITY_GAP``;
   ``gap=0`` is passed). Objectives may also differ by 1e-9 of the objective's coefficient
   scale, and with soft bands by what the evaluator's band precision is worth
   (:meth:`fuzz_cases.Oracle.cost_scale`, :meth:`fuzz_cases.Oracle.objective_slack`);
5. the plan summary (``plan.json``) is strict JSON.

The minimal scenarios of the failures found so far (:data:`fuzz_cases.MINIMAL_FAILURES`) run
first as explicit examples. ``TERRITORY_OPT_FUZZ_EXAMPLES`` sets the number of random examples
over all backends (default 150, about 10 s on 2 cores when every check holds); runs are
derandomized, so CI sees the same examples every time.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, note, settings

from fuzz_cases import (
    EVALUATOR_SLACK,
    MINIMAL_FAILURES,
    STRICT_SLACK,
    FuzzCase,
    Oracle,
    cases,
    names_a_soft_rule,
)
from territory_opt import evaluate, load_scenario, solve
from territory_opt.backends.contract import OPTIMALITY_GAP, Status
from territory_opt.backends.registry import registered_backends
from territory_opt.errors import InfeasibleError, NoPlanFoundError, ScenarioError
from territory_opt.plan import Plan
from territory_opt.scenario.model import Scenario

FUZZED = ("highs", "cpsat", "scip", "cbc", "heuristic")
INSTALLED = [b.name for b in registered_backends() if b.name in FUZZED and b.available()]
EXAMPLES = int(os.environ.get("TERRITORY_OPT_FUZZ_EXAMPLES", "150"))
PER_BACKEND = max(1, math.ceil(EXAMPLES / max(len(INSTALLED), 1)))

SOLVE = {"time_limit": 5, "seed": 0, "gap": 0.0}
NO_PLAN_SHARE = 0.5
"""A "no plan within the time limit" must come after at least this share of the limit."""
MAX_ADJUDICATED = 50
"""Assignments near feasibility the evaluator is asked about, after an InfeasibleError."""
COST_PRECISION = 1e-9
"""Objectives and bounds are compared to within this share of the objective's coefficient
scale (:meth:`fuzz_cases.Oracle.cost_scale`), on top of the relative tolerances."""
OPTIMUM_REL = 1e-6 + OPTIMALITY_GAP
"""How far above the brute-force optimum an "optimal" plan may be, relative."""

VIOLATES = "violates"
"""The status of a plan that breaks a hard rule on the scenario's numbers (being added to
:class:`Status`): a true claim when the evaluator sees a hard violation."""

RIGHTLY_REFUSED: tuple[str, ...] = ()
"""Substrings of loader problems the strategy may rightly cause (none: it draws valid input
only, so any refusal fails the test)."""


def test_the_fuzzed_backends_are_installed() -> None:
    assert set(FUZZED) <= set(INSTALLED), INSTALLED


def _minimal_failures(test: Callable[..., None]) -> Callable[..., None]:
    """Run the minimal scenarios of the failures found so far first (explicit examples: they
    fail fast, with no shrinking)."""
    for case in reversed(MINIMAL_FAILURES.values()):
        test = example(case=case)(test)
    return test


@pytest.mark.parametrize("backend", INSTALLED)
@settings(max_examples=PER_BACKEND, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
@_minimal_failures
def test_every_plan_is_true(backend: str, case: FuzzCase) -> None:
    _check_case(backend, case)


def _check_case(backend: str, case: FuzzCase) -> None:
    with tempfile.TemporaryDirectory() as folder:
        scenario = _load(case, Path(folder))
        oracle = Oracle(case)
        started = time.perf_counter()
        try:
            plan = solve(scenario, backend=backend, **SOLVE)
        except InfeasibleError as exc:
            event("infeasible")
            _check_infeasible(case, scenario, oracle, exc)
            return
        except NoPlanFoundError as exc:
            event("no plan")
            # Documented: "the time limit passed (or Ctrl-C came) before any plan was found".
            seconds = time.perf_counter() - started
            assert seconds >= NO_PLAN_SHARE * SOLVE["time_limit"], (
                f"check 1: NoPlanFoundError after {seconds:.2f} s of a {SOLVE['time_limit']} s "
                f"limit ({exc}); brute-force optimum {oracle.best(STRICT_SLACK)[0]!r}")
            return
        except Exception as exc:
            exc.add_note(f"check 1: solve(backend={backend!r}) raised an undocumented "
                         f"{type(exc).__name__}")
            raise
        event(f"plan {plan.status}")
        _check_plan(case, scenario, oracle, plan)


def _load(case: FuzzCase, root: Path) -> Scenario:
    try:
        return load_scenario(case.write(root))
    except ScenarioError as exc:
        rightly = bool(exc.problems) and all(
            any(s in str(p) for s in RIGHTLY_REFUSED) for p in exc.problems)
        assume(not rightly)
        exc.add_note("the loader refused a valid scenario")
        raise


def _check_plan(case: FuzzCase, scenario: Scenario, oracle: Oracle, plan: Plan) -> None:
    # 2. A plan claimed optimal or feasible breaks no hard rule, as the project's own evaluator
    # sees the assignment; a plan with another status (``violates``) must break one.
    check = evaluate(scenario, plan.assignment)
    hard = [str(v) for v in check.violations if v.hard]
    claimed = plan.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert not (claimed and hard), (
        f"check 2: status {plan.status} ({plan.stop_reason}; found by {plan.found_by}) but "
        f"{len(hard)} hard violation(s): {hard}; assignment {_labels(oracle, plan.assignment)}")
    assert claimed or (str(plan.status) == VIOLATES and hard), (
        f"check 2: a plan with status {plan.status} ({plan.stop_reason}); hard violations "
        f"{hard}")

    # The brute force scores the plan as the evaluator does (else the oracle is not to be
    # trusted below).
    mine = float(oracle.objectives(plan.assignment[None, :])[0])
    assert hard or bool(oracle.feasible(plan.assignment[None, :], 2 * EVALUATOR_SLACK)[0]), (
        "the brute force sees a hard violation the evaluator does not")
    assert mine == pytest.approx(plan.objective, rel=1e-9, abs=1e-9), (
        f"objective: evaluator {plan.objective!r}, brute force {mine!r}")

    # 5. plan.json is strict JSON.
    json.dumps(plan.summary(), allow_nan=False)

    # 4a. Every bound is a lower bound: no plan the evaluator accepts (this one included)
    # costs less.
    forgiven = oracle.objective_slack() + COST_PRECISION * oracle.cost_scale()
    _check_bound(scenario, oracle, plan, forgiven)

    # 4b. Optimal is optimal: no plan that meets every hard rule (with a margin: only rounding
    # forgiven, not the evaluator's slack) is better by more than the optimality gap.
    best, argbest = oracle.best(STRICT_SLACK)
    if argbest is None:
        return  # only plans within the evaluator's slack exist: nothing to compare with
    note(f"brute-force optimum {best!r} at {_labels(oracle, argbest)}")
    if not claimed:
        event("plan violates, though a plan meets every hard rule")
    if plan.status == Status.OPTIMAL:
        scale = max(abs(best), abs(plan.objective))
        allowed = OPTIMUM_REL * scale + 1e-9 * max(1.0, scale) + forgiven
        assert plan.objective <= best + allowed, (
            f"check 4: status optimal with objective {plan.objective!r} "
            f"(bound {plan.bound!r}, {plan.bound_source}; found by {plan.found_by}), but "
            f"{_labels(oracle, argbest)} meets every hard rule with {best!r} "
            f"(evaluator: {_evaluated(scenario, argbest)}); plan "
            f"{_labels(oracle, plan.assignment)}")


def _check_bound(scenario: Scenario, oracle: Oracle, plan: Plan, forgiven: float) -> None:
    """``plan.bound`` is at most the objective of every plan the evaluator accepts."""
    if not math.isfinite(plan.bound):
        return
    allowed = 1e-6 * abs(plan.bound) + 1e-9 * max(1.0, abs(plan.bound)) + forgiven
    below = oracle.objective < plan.bound - allowed
    near = below & oracle.feasible(oracle.assignments, 2 * EVALUATOR_SLACK)
    order = np.flatnonzero(near)[np.argsort(oracle.objective[near], kind="stable")]
    accepted = next((j for j in order[:MAX_ADJUDICATED]
                     if evaluate(scenario, oracle.assignments[j]).feasible), None)
    if accepted is None:
        return
    assignment = oracle.assignments[accepted]
    raise AssertionError(
        f"check 4: bound {plan.bound!r} ({plan.bound_source}) is above the objective "
        f"{float(oracle.objective[accepted])!r} of {_labels(oracle, assignment)}, which the "
        f"evaluator accepts ({_evaluated(scenario, assignment)}); plan: status {plan.status} "
        f"({plan.stop_reason}), objective {plan.objective!r}, {_labels(oracle, plan.assignment)}")


def _check_infeasible(case: FuzzCase, scenario: Scenario, oracle: Oracle,
                      exc: InfeasibleError) -> None:
    # 3a. No assignment meets every hard rule: none with a margin (only rounding forgiven)...
    best, argbest = oracle.best(STRICT_SLACK)
    assert argbest is None, (
        f"check 3: InfeasibleError ({exc}), but {_labels(oracle, argbest)} meets every hard "
        f"rule with objective {best!r} (evaluator: {_evaluated(scenario, argbest)})")
    # ... and none the project's own evaluator accepts within its documented slack (it judges
    # every plan; a plan it accepts is a plan that meets the hard rules).
    near = oracle.assignments[oracle.feasible(oracle.assignments, 2 * EVALUATOR_SLACK)]
    for assignment in near[:MAX_ADJUDICATED]:
        assert not evaluate(scenario, assignment).feasible, (
            f"check 3: InfeasibleError ({exc}), but evaluate() finds no hard violation in "
            f"{_labels(oracle, assignment)} (objective "
            f"{float(oracle.objectives(assignment[None, :])[0])!r}; it breaks a hard rule by "
            f"less than the evaluator's slack of {EVALUATOR_SLACK:g})")
    # 3b. Conflicts name hard rules only.
    for conflict in exc.conflicts:
        soft = names_a_soft_rule(case, conflict.rules)
        assert soft is None, (
            f"check 3: InfeasibleError names balance {soft[0]}"
            f"{f' ±{soft[1]}%' if soft[1] else ''}, not a hard rule (soft: "
            f"{case.soft_rules()}, hard: {case.hard_rules()}), in conflict {str(conflict)!r}")


def _labels(oracle: Oracle, assignment: np.ndarray) -> list[str]:
    return [oracle.rep_ids[k] if k >= 0 else "-" for k in assignment]


def _evaluated(scenario: Scenario, assignment: np.ndarray) -> str:
    check = evaluate(scenario, assignment)
    hard = [str(v) for v in check.violations if v.hard]
    return f"objective {check.objective.total!r}, hard violations {hard}"
