"""The one place a plan's status is decided: :func:`stop_status` from its objective and a valid
bound (every family and the heuristic use it), then :func:`settle` against the scenario's own
numbers.

A solver judges its plan on its own model — scaled rows, a feasibility tolerance of about 1e-6,
integers rounded. The user judges it on the scenario. An account of potential 1e-7 moved under
a disruption cap was within the solver's tolerance and outside the cap, and the plan was called
optimal beside a hard violation in its own evaluation. So every family's plan passes through
:func:`settle` before it is returned: the KPI evaluator's hard-rule check (the project's one
rule checker, at its documented tolerance) has the last word, and a plan that breaks a hard rule
there is never ``optimal`` or ``feasible`` but :attr:`Status.VIOLATES`.
"""

from __future__ import annotations

from dataclasses import replace

from territory_opt.backends.contract import OPTIMALITY_GAP, Status, relative_gap
from territory_opt.kpi.evaluate import Violation
from territory_opt.plan import Plan


def stop_status(objective: float, bound: float, *, gap_target: float, interrupted: bool = False,
                solver_optimal: bool = False, solver_reason: str = "") -> tuple[Status, str]:
    """The status of a plan of value ``objective`` and why its search stopped.

    Optimal means proven by a valid ``bound`` (within :data:`OPTIMALITY_GAP`), whoever found
    the plan and whatever a solver said; otherwise the plan is feasible and the reason is, in
    order: ``interrupted``, ``gap target reached`` (the gap is within ``gap_target``, or the
    solver proved its own model optimal), else the solver's own reason or ``time limit``.
    """
    gap = relative_gap(objective, bound)
    if gap <= OPTIMALITY_GAP:
        return Status.OPTIMAL, "proven optimal"
    if interrupted:
        return Status.FEASIBLE, "interrupted"
    if gap <= gap_target or solver_optimal:
        return Status.FEASIBLE, "gap target reached"
    return Status.FEASIBLE, solver_reason or "time limit"


def hard_violations(plan: Plan) -> list[Violation]:
    """The hard rules ``plan`` breaks, as the KPI evaluator sees them."""
    return [v for v in plan.evaluation.violations if v.hard]


def settle(plan: Plan) -> Plan:
    """``plan`` with a status that is true on the scenario's numbers: a plan claimed optimal
    or feasible that breaks a hard rule becomes :attr:`Status.VIOLATES`, its stop reason
    naming how many rules and the first."""
    if plan.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return plan
    broken = hard_violations(plan)
    if not broken:
        return plan
    first = broken[0]
    reason = (f"the plan breaks {len(broken)} hard rule(s) on the scenario's own numbers "
              f"(first: {first}); the solver's tolerance hid it")
    return replace(plan, status=Status.VIOLATES, stop_reason=reason)
